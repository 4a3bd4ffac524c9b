"""The observing stage and the per-stage wrapper (`gateway/pipeline/observe.py`)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import ObservabilityConfig
from gateway.errors import UnknownToolError
from gateway.ledger.privacy import Masker
from gateway.models import CallContext, Principal, ToolRef
from gateway.observability import Observability, configure_logging
from gateway.pipeline import Call, Pipeline
from gateway.pipeline.call import Proceed
from gateway.pipeline.observe import Observe, stage_name
from gateway.policy import Decision, Effect, Obligations

pytestmark = pytest.mark.anyio

SECRET = "s3cret-planted-value"


def a_call(name: str = "bank__pay", **arguments: Any) -> Call:
    context = CallContext(Principal("agent-7"), name, arguments, "wf-1", None, "call_1", session_key="sess")
    return Call(context=context, links=None)  # type: ignore[arg-type]


class Resolve:
    async def __call__(self, call: Call, proceed: Proceed) -> dict[str, Any]:
        if call.context.requested_name == "nope":
            raise UnknownToolError("unknown tool 'nope'")
        call.tool = ToolRef("bank", "pay")
        return await proceed(call)


class Decide:
    def __init__(self, effect: Effect = Effect.ALLOW) -> None:
        self.effect = effect

    async def __call__(self, call: Call, proceed: Proceed) -> dict[str, Any]:
        call.decision = Decision(
            effect=self.effect,
            reasons=[f"because {SECRET}"],
            decision_id="d1",
            obligations=Obligations(mask=["args.**.password"]),
        )
        if self.effect is Effect.DENY:
            return {"isError": True, "content": []}
        return await proceed(call)


class Forward:
    async def __call__(self, call: Call, proceed: Proceed) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": "done"}]}


def observed(exporter: InMemorySpanExporter | None, *stages: Any) -> tuple[Pipeline, Observability]:
    observability = Observability.from_config(ObservabilityConfig(), exporter)
    masker = Masker(b"salt" * 8, 1024)
    return Pipeline([Observe(observability, masker), *stages], observability), observability


def families(observability: Observability) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(observability.metrics.render().decode())}


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    root.handlers, root.level = saved


def test_stage_names_are_the_classes_in_snake_case() -> None:
    assert stage_name(Resolve()) == "resolve"

    class RecordIntent: ...

    assert stage_name(RecordIntent()) == "record_intent"  # type: ignore[arg-type]


async def test_the_call_span_has_the_conventions_attributes_and_stage_children() -> None:
    exporter = InMemorySpanExporter()
    pipeline, _ = observed(exporter, Resolve(), Decide(), Forward())
    await pipeline.call(a_call(password=SECRET))
    spans = {span.name: span for span in exporter.get_finished_spans()}
    root = spans["execute_tool bank__pay"]
    assert root.attributes is not None
    assert root.attributes["gen_ai.tool.call.id"] == "call_1"
    assert root.attributes["mcp.session.id"] == "sess"
    assert root.attributes["rollgate.outcome"] == "ok"
    assert spans["policy evaluate"].parent.span_id == root.context.span_id  # type: ignore[union-attr]
    assert spans["tools/call pay"].parent.span_id == root.context.span_id  # type: ignore[union-attr]
    assert "resolve" not in spans  # a stage without a step of its own in a trace is only timed
    assert not any(SECRET in str(v) for span in spans.values() for v in (span.attributes or {}).values())


async def test_without_a_tracer_no_span_is_opened_and_stages_are_still_timed() -> None:
    pipeline, observability = observed(None, Resolve(), Decide(), Forward())
    call = a_call()
    await pipeline.call(call)
    assert call.watch is not None and call.watch.span is None
    stages = families(observability)["rollgate_stage_duration_seconds"]
    counted = {s.labels["stage"]: s.value for s in stages.samples if s.name.endswith("_count")}
    assert counted == {"resolve": 1, "decide": 1, "forward": 1}


async def test_a_stages_own_time_excludes_the_stages_after_it() -> None:
    import anyio

    class Slow:
        async def __call__(self, call: Call, proceed: Proceed) -> dict[str, Any]:
            await anyio.sleep(0.05)
            return {"content": []}

    pipeline, observability = observed(None, Resolve(), Slow())
    await pipeline.call(a_call())
    sums = {
        s.labels["stage"]: s.value
        for s in families(observability)["rollgate_stage_duration_seconds"].samples
        if s.name.endswith("_sum")
    }
    assert sums["slow"] >= 0.05 and sums["resolve"] < 0.01


@pytest.mark.parametrize(
    ("name", "effect", "outcome", "tool"),
    [
        ("bank__pay", Effect.ALLOW, "ok", "bank/pay"),
        ("bank__pay", Effect.DENY, "denied", "bank/pay"),
        ("nope", Effect.ALLOW, "rejected", "unresolved"),
    ],
)
async def test_calls_are_counted_by_bounded_tool_decision_and_outcome(
    name: str, effect: Effect, outcome: str, tool: str
) -> None:
    pipeline, observability = observed(None, Resolve(), Decide(effect), Forward())
    with pytest.raises(UnknownToolError) if name == "nope" else _nothing():
        await pipeline.call(a_call(name))
    decision = "none" if name == "nope" else effect.value
    (sample,) = [s for s in families(observability)["rollgate_calls"].samples if s.name == "rollgate_calls_total"]
    assert sample.labels == {"tool": tool, "decision": decision, "outcome": outcome} and sample.value == 1


async def test_the_log_line_is_json_with_the_call_and_no_planted_secret(log_stream: io.StringIO) -> None:
    pipeline, _ = observed(None, Resolve(), Decide(Effect.DENY), Forward())
    call = a_call(password=SECRET)
    await pipeline.call(call)
    (line,) = [json.loads(x) for x in log_stream.getvalue().splitlines() if "rollgate.calls" in x]
    assert line["correlation_id"] == "call_1" and line["principal"] == "agent-7" and line["workflow"] == "wf-1"
    assert line["tool"] == "bank/pay" and line["decision"] == "deny" and line["outcome"] == "denied"
    assert line["reasons"] == ["because [masked]"]
    assert SECRET not in log_stream.getvalue()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def test_a_call_sampled_out_opens_no_stage_spans_and_exports_nothing() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from gateway.observability.tracing import Tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observability = Observability(ObservabilityConfig(), Tracing(provider))
    pipeline = Pipeline([Observe(observability), Resolve(), Decide(), Forward()], observability)
    call = a_call()
    await pipeline.call(call)
    assert call.watch is not None and call.watch.span is None and call.watch.context is not None
    assert exporter.get_finished_spans() == ()


def test_the_guards_that_tripped_are_read_from_signals_refusals_and_held_definitions() -> None:
    from gateway.pipeline.observe import tripped
    from gateway.policy.document import BreakerSignal, RateSignal

    call = a_call()
    assert tripped(call) == []
    call.signals = {"rate": RateSignal(tripped=True, retry_after=1.0), "breaker": BreakerSignal(tripped=False)}
    call.refused_by = "lease"
    call.definition_changed = True
    call.decision = Decision(effect=Effect.DENY, reasons=["held"])
    assert tripped(call) == ["rate", "lease", "pinning"]
    call.decision = Decision(effect=Effect.ALLOW)  # a policy that lets a changed tool run: no trip
    assert tripped(call) == ["rate", "lease"]
