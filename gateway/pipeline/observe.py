"""The head stage when observability is on: one span, one count and one log line per call; and
the per-stage wrapper (`watched`) that `Pipeline` puts around every other stage.

    Observe     (first stage)   opens the call's `execute_tool` span under the caller's trace
                context (`_meta.traceparent`, or the HTTP `traceparent` header, which the fast
                path copies there), and when the call ends counts it by tool, decision and
                outcome, times it, and writes its log line.
    watched     each stage's own time (its successors' excluded) into
                `rollgate_stage_duration_seconds{stage}`; with spans recorded, the stages that
                are a step of their own in a trace (policy, ledger, approval, upstream) get a
                child span of the call's.

With `[observability] enabled = false` neither exists: the stage is absent and `Pipeline` links
the stages as before. Without a tracer provider no span is opened, and the per-call work is a few
dict and list updates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import anyio
from mcp.shared.exceptions import MCPError

from gateway.errors import CallError, OutcomeUnknownError
from gateway.ledger.privacy import Masker
from gateway.observability.instruments import CallWatch, Observability
from gateway.observability.tracing import SpanKind, Tracing, attach, detach, failed, in_context, incoming_context
from gateway.pipeline.call import Call, Proceed, Result, Stage
from gateway.policy import Effect

META_TOOL_PREFIX = "rollgate_"
UNRESOLVED = "unresolved"


class Observe:
    def __init__(self, observability: Observability, masker: Masker | None = None) -> None:
        self._tracing = observability.tracing
        self._metrics = observability.metrics
        self._log = observability.calls
        self._masker = masker

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        started = perf_counter()
        watch = call.watch = CallWatch()
        token = None
        if self._tracing.recording:
            span = self._tracing.start(
                f"execute_tool {call.context.requested_name}",
                incoming_context(call.context.meta),
                SpanKind.SERVER,
                _call_attributes(call),
            )
            watch.context = in_context(span)
            token = attach(watch.context)  # (sampled out, it still carries the trace upstream)
            if span.is_recording():  # sampled out (OTEL_TRACES_SAMPLER): no stage spans either
                watch.span = span
        outcome, error = "error", None
        try:
            result = await proceed(call)
            outcome = _outcome(call, result)
            return result
        except anyio.get_cancelled_exc_class():
            outcome = "cancelled"
            raise
        except (CallError, MCPError) as exc:
            outcome = _failure(call, exc)
            error = exc.message if isinstance(exc, CallError) else exc.error.message
            raise
        except Exception as exc:
            error = f"the gateway failed: {type(exc).__name__}"
            raise
        finally:
            seconds = perf_counter() - started
            tool = _tool_label(call, outcome)
            decision = call.decision.effect.value if call.decision is not None else "none"
            self._metrics.call(tool, decision, outcome, seconds)
            for guard in tripped(call):
                self._metrics.guard_tripped(guard)
            if watch.span is not None:
                _end_call_span(watch, call, decision, outcome, error)
            if token is not None:
                detach(token)
            if self._log.enabled:
                self._log.line(self._fields(call, tool, decision, outcome, seconds, error))

    def _fields(
        self, call: Call, tool: str, decision: str, outcome: str, seconds: float, error: str | None
    ) -> dict[str, Any]:
        """The log line's fields: names and ids, never arguments; reasons and errors redacted."""
        context = call.context
        fields: dict[str, Any] = {
            "correlation_id": context.correlation_id,
            "principal": context.principal.id,
            "workflow": context.workflow_id,
            "tool": call.tool.qualified if call.tool is not None else context.requested_name,
            "decision": decision,
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 3),
        }
        if call.decision is not None and call.decision.effect is not Effect.ALLOW:
            fields["decision_id"] = call.decision.decision_id
            fields["reasons"] = list(call.decision.reasons)
        if error is not None:
            fields["error"] = error
        if context.internal:
            fields["internal"] = True
        if call.held_approval is not None:
            fields["approval_id"] = call.held_approval
        redaction = call.redacted(self._masker) if self._masker is not None else call.redaction
        if redaction is not None:
            if redaction.args_rules:  # learn the call's secrets as the ledger does (the ledger may be off)
                redaction.arguments(dict(context.arguments))
            if redaction.found:
                fields = redaction.data(fields)
        return fields


def tripped(call: Call) -> list[str]:
    """The guards that tripped on this call: the signals that say so (loop, budget, rate,
    breaker), a guard that refused the call itself (stop, lease), a held tool definition."""
    names = [name for name, signal in call.signals.items() if getattr(signal, "tripped", False)]
    if call.refused_by is not None:
        names.append(call.refused_by)
    if call.definition_changed and call.decision is not None and call.decision.effect is not Effect.ALLOW:
        names.append("pinning")
    return names


def _call_attributes(call: Call) -> dict[str, Any]:
    context = call.context
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": context.requested_name,
        "gen_ai.tool.call.id": context.correlation_id,
        "mcp.method.name": "tools/call",
        "rollgate.principal.id": context.principal.id,
        "rollgate.workflow.id": context.workflow_id,
    }
    if context.session_key is not None:
        attributes["mcp.session.id"] = context.session_key
    if context.internal:
        attributes["rollgate.internal"] = True
        attributes["rollgate.compensation"] = context.compensation
    return attributes


def _end_call_span(watch: CallWatch, call: Call, decision: str, outcome: str, error: str | None) -> None:
    span = watch.span
    assert span is not None
    span.set_attribute("rollgate.decision.effect", decision)
    span.set_attribute("rollgate.outcome", outcome)
    if call.decision is not None:
        span.set_attribute("rollgate.decision.id", call.decision.decision_id)
    if call.tool is not None:
        span.set_attribute("rollgate.tool", call.tool.qualified)
    if outcome in ("error", "unknown", "rejected", "cancelled"):
        failed(span, outcome, error if call.redaction is None else call.redaction.data(error))
    elif outcome == "tool_error":
        failed(span, "tool_error")
    span.end()


def _outcome(call: Call, result: Result) -> str:
    """What became of a call that was answered: `ok` or `tool_error` (it ran), `denied`, `held`."""
    decision = call.decision
    if decision is not None and decision.effect is Effect.DENY:
        return "denied"
    if decision is not None and decision.effect is Effect.REQUIRE_APPROVAL and call.approval is None:
        return "held"
    if call.approval is not None and decision is not None and decision.effect is not Effect.ALLOW:
        return "denied"
    return "tool_error" if result.get("isError") else "ok"


def _failure(call: Call, exc: CallError | MCPError) -> str:
    """What became of a call that raised: `rejected` before any decision (unknown tool, bad
    arguments, not the caller's workflow), `unknown` when forwarded and never answered, else `error`."""
    if isinstance(exc, OutcomeUnknownError):
        return "unknown"
    return "rejected" if call.decision is None and call.tool is None else "error"


def _tool_label(call: Call, outcome: str) -> str:
    """A bounded label: the resolved tool, a meta-tool that answered, else `unresolved`."""
    if call.tool is not None:
        return call.tool.qualified
    name = call.context.requested_name
    if outcome in ("ok", "tool_error") and name.startswith(META_TOOL_PREFIX):
        return name
    return UNRESOLVED


# -- the per-stage wrapper -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """How one stage appears in a trace: its span's name, and whether that span covers the
    stage's work before it proceeds (the default) or after (the outcome's ledger write)."""

    name: Callable[[Call], str]
    kind: SpanKind = SpanKind.INTERNAL
    after: bool = False
    current: bool = False
    """Made the current span: what the upstream link injects into the forwarded `_meta`."""
    attributes: Callable[[Call], dict[str, Any]] | None = None
    when: Callable[[Call], bool] | None = None
    """Only for the calls where this holds (the approval stage: a call that needs one)."""


def _upstream_attributes(call: Call) -> dict[str, Any]:
    assert call.tool is not None
    return {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.tool.name,
        "rollgate.upstream": call.tool.upstream,
    }


def _decided(call: Call) -> dict[str, Any]:
    return {"rollgate.decision.effect": call.decision.effect.value} if call.decision is not None else {}


_STEPS: dict[str, _Step] = {
    "Decide": _Step(lambda call: "policy evaluate", attributes=_decided),
    "RecordIntent": _Step(
        lambda call: "ledger append", attributes=lambda call: {"rollgate.ledger.event": "call.intent"}
    ),
    "RecordOutcome": _Step(
        lambda call: "ledger append", after=True, attributes=lambda call: {"rollgate.ledger.event": "call.outcome"}
    ),
    "Approve": _Step(
        lambda call: "approval wait",
        when=lambda call: call.decision is not None and call.decision.effect is Effect.REQUIRE_APPROVAL,
    ),
    "Forward": _Step(
        lambda call: f"tools/call {call.tool.name if call.tool else ''}".rstrip(),
        SpanKind.CLIENT,
        current=True,
        attributes=lambda call: _upstream_attributes(call) if call.tool is not None else {},
    ),
}


def stage_name(stage: Stage) -> str:
    """`RecordIntent` → `record_intent`: the `stage` label of the latency histogram."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(stage).__name__).lower()


def watched(stage: Stage, proceed: Proceed, observability: Observability) -> Proceed:
    """`stage` linked to `proceed` and timed; traced too when spans are recorded and the stage
    is a step of its own in a trace."""
    observe = observability.metrics.stage(stage_name(stage))
    waited = observability.metrics.approval_waited if type(stage).__name__ == "Approve" else None
    step = _STEPS.get(type(stage).__name__)
    if observability.tracing.recording and step is not None:
        return _traced(stage, proceed, observe, waited, step, observability.tracing)

    async def run(call: Call) -> Result:
        watch = call.watch
        if watch is None:  # a call that did not enter through the observing stage
            return await stage(call, proceed)
        inner = watch.inner
        inner.append(0.0)  # the successors' time, which the next stage's `run` adds here
        started = perf_counter()
        try:
            return await stage(call, proceed)
        finally:
            elapsed = perf_counter() - started
            own = elapsed - inner.pop()
            if inner:
                inner[-1] += elapsed
            observe(own)
            if waited is not None and call.held_approval is not None:
                waited(own)

    return run


def _traced(
    stage: Stage,
    proceed: Proceed,
    observe: Callable[[float], None],
    waited: Callable[[float], None] | None,
    step: _Step,
    tracing: Tracing,
) -> Proceed:
    """`watched` with the stage's span: opened when the stage starts (or, for `step.after`, when
    its successors return), closed when it proceeds (or returns)."""

    def open_span(call: Call, watch: CallWatch) -> tuple[Any, object | None] | None:
        if watch.span is None or (step.when is not None and not step.when(call)):
            return None
        attributes = step.attributes(call) if step.attributes is not None and not step.after else None
        span = tracing.start(step.name(call), watch.context, step.kind, attributes)
        return span, (attach(in_context(span, watch.context)) if step.current else None)

    def close_span(call: Call, entry: tuple[Any, object | None]) -> None:
        span, token = entry
        if token is not None:
            detach(token)
        if step.attributes is not None:
            span.set_attributes(step.attributes(call))
        span.end()

    async def rest(call: Call) -> Result:
        watch = call.watch
        assert watch is not None
        if (entry := watch.spans[-1]) is not None:
            close_span(call, entry)
            watch.spans[-1] = None
        try:
            return await proceed(call)  # (the next stage's `run` adds its time to `watch.inner`)
        finally:
            if step.after:
                watch.spans[-1] = open_span(call, watch)

    async def run(call: Call) -> Result:
        watch = call.watch
        if watch is None:
            return await stage(call, proceed)
        watch.inner.append(0.0)
        watch.spans.append(None if step.after else open_span(call, watch))
        started = perf_counter()
        try:
            return await stage(call, rest)
        finally:
            elapsed = perf_counter() - started
            own = elapsed - watch.inner.pop()
            if watch.inner:
                watch.inner[-1] += elapsed
            observe(own)
            if waited is not None and call.held_approval is not None:
                waited(own)
            if (entry := watch.spans.pop()) is not None:
                close_span(call, entry)

    return run
