"""Stage 3 (guard): circuit breakers, so that nothing keeps calling what keeps failing.

    Breaker       (before decide)   asks the call's upstream breaker and its agent's tool breaker
                  whether the call may go on, and puts the answer in `input.signals.breaker`; the
                  default policy denies a tripped breaker, naming it, its failures and the cool-down
                  left (`retry_after`), so an open upstream is not called at all.
    BreakerWatch  (before forward)  counts what the upstream did with the forwarded call.

What counts as a failure, and why:
- the upstream's breaker (shared by every agent): the upstream did not answer properly, whatever
  was asked (`UpstreamError`: it is down, restarting, timed out, or kept asking for input; a
  JSON-RPC error other than one about the request itself). Any proper answer, even a tool's error
  result, is a success: the upstream works.
- a tool's breaker, one per agent and tool: the tool answered an error (`isError`, or a JSON-RPC
  error about the request). An agent that hammers a failing tool is what this stops; it is per
  agent so that one agent's bad arguments never shut a tool for the others.
The gateway's own refusals never reach `BreakerWatch` (they are answered above it), so they count
as nothing. The gateway's own calls (compensations, verification reads) meet the upstream breaker
only: a rollback has its own breaker per compensation tool (`gateway.saga.rollback`).
"""

from __future__ import annotations

from mcp.shared.exceptions import MCPError

from gateway.errors import INVALID_PARAMS, UpstreamError
from gateway.guards.breakers import Admission, Breakers
from gateway.pipeline.call import Call, Proceed, Result
from gateway.policy import Effect
from gateway.policy.document import BreakerSignal

_ABOUT_THE_REQUEST = frozenset({-32600, -32601, INVALID_PARAMS})
"""JSON-RPC 2.0 §5.1: invalid request, method not found, invalid params: the upstream answered
properly that this request is wrong (its tool's failure, not the upstream's)."""


def tool_key(call: Call) -> str:
    """A tool breaker's key: the agent and the tool as it runs (`agent-one:demo/transfer`)."""
    assert call.tool is not None
    return f"{call.context.principal.id}:{call.tool.qualified}"


class Breaker:
    def __init__(self, upstreams: Breakers, tools: Breakers) -> None:
        self._upstreams = upstreams
        self._tools = tools
        self.watch = BreakerWatch(upstreams, tools)
        """The stage that counts outcomes; the pipeline places it right before forward."""

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        assert call.tool is not None
        upstream = self._upstreams.admit(call.tool.upstream)
        tool = None if call.context.internal else self._tools.admit(tool_key(call))
        if upstream.failures or (tool is not None and tool.failures):  # all clear: nothing to say
            call.signals["breaker"] = _signal(call, upstream, tool)
        try:
            return await proceed(call)
        finally:  # a probe that never ran gives its turn back
            self._upstreams.release(upstream)
            if tool is not None:
                self._tools.release(tool)


class BreakerWatch:
    def __init__(self, upstreams: Breakers, tools: Breakers) -> None:
        self._upstreams = upstreams
        self._tools = tools

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        if call.tool is None or call.decision is None or call.decision.effect is not Effect.ALLOW:
            return await proceed(call)  # forward refuses it: nothing reaches the upstream
        upstream, tool = call.tool.upstream, None if call.context.internal else tool_key(call)
        try:
            result = await proceed(call)
        except UpstreamError as exc:
            self._upstreams.failed(upstream, exc.message)
            raise
        except MCPError as exc:
            if exc.error.code in _ABOUT_THE_REQUEST:
                self._upstreams.succeeded(upstream)
                if tool is not None:
                    self._tools.failed(tool, exc.error.message)
            else:
                self._upstreams.failed(upstream, exc.error.message)
            raise
        self._upstreams.succeeded(upstream)
        if tool is not None:
            if result.get("isError"):
                self._tools.failed(tool, "the tool answered an error")
            else:
                self._tools.succeeded(tool)
        return result


def _signal(call: Call, upstream: Admission, tool: Admission | None) -> BreakerSignal:
    """The breaker that refuses the call (the upstream's first), else the upstream's own state."""
    assert call.tool is not None
    if not upstream.allowed or tool is None or tool.allowed:
        scope, name, admission = "upstream", call.tool.upstream, upstream
    else:
        scope, name, admission = "tool", call.tool.qualified, tool
    return BreakerSignal.model_construct(
        tripped=not admission.allowed,
        scope=scope,
        name=name,
        state=admission.state.value,
        failures=admission.failures,
        retry_after=None if admission.retry_after is None else round(admission.retry_after, 3),
    )
