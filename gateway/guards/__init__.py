"""Guards: what stops a runaway agent early, measured per call and kept between calls.

Each guard keeps its own state (windows, counters, buckets, breakers, leases, the kill switch,
pinned tool definitions) and measures one call into a signal (`gateway.policy.document.SignalsDoc`);
the pipeline's guard stages (`gateway.pipeline.guard` and its neighbours) put the signals in the
policy input, where the default policy denies a tripped guard and a policy of one's own may react
otherwise. Guards import nothing above them: no pipeline, server or web code.
"""
