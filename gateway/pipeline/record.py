"""Stages 5 and 9: write the call's intent before forwarding, and its outcome after.

    RecordOutcome   (first stage)   writes, whatever happens below it: the rejection or refusal with
                    its reason and decision, or the result (status, duration, result or digest),
                    or the error; or, for a forwarded call that got no answer (timed out, lost
                    upstream, cancelled), `call.outcome_unknown`: it may have taken effect.
    RecordIntent    (after decide)  writes the intent and waits until it is durable; only then
                    does the call go on towards the upstream. (A call the operator's manifest
                    declares read-only may go on at once; its answer then waits for the intent.)

The two share a count of the calls between them (`OpenCalls`): the intent of a call that is the
only one open may be written on the event loop itself (`Ledger.append(alone=True)`).

Arguments and results pass through the privacy rules first: masked paths become salted digests,
large results are stored as digest and size. Each entry is its typed event (`ledger/events.py`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
from mcp.shared.exceptions import MCPError

from gateway.errors import CallError, OutcomeUnknownError, UnrecordedError
from gateway.ledger.events import (
    CallHeld,
    CallIntent,
    CallOutcomeUnknown,
    CallRefused,
    CallResult,
    DecisionRecord,
    ManifestRecord,
    RequiredApprovers,
)
from gateway.ledger.ledger import Ledger
from gateway.ledger.privacy import Masker
from gateway.manifests import ResolvedManifest
from gateway.manifests.schema import Reversibility
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.verdict import decision_in
from gateway.policy import Effect

logger = logging.getLogger(__name__)


def _who(call: Call) -> dict[str, Any]:
    """The fields every call event starts with (`ledger.events._Call`), as keywords for it."""
    context = call.context
    return {
        "correlation_id": context.correlation_id,
        "principal": context.principal.id,
        "workflow": context.workflow_id,
        "step": context.step,
        "tool": call.tool.qualified if call.tool else None,
        "requested_name": context.requested_name,
    }


def _decision(call: Call) -> DecisionRecord | None:
    decision = call.decision
    if decision is None:
        return None
    tripped = _tripped(call)
    return DecisionRecord(
        id=decision.decision_id,
        effect=decision.effect.value,
        reasons=decision.reasons,
        approvers=[RequiredApprovers(role=a.role, count=a.count) for a in decision.approvers],
        **({"guards": tripped} if tripped else {}),
    )


def _tripped(call: Call) -> dict[str, dict[str, Any]]:
    """The guard signals that tripped (`gateway.pipeline.guard`), as the policy saw them."""
    return {
        name: signal.model_dump(exclude_none=True)
        for name, signal in call.signals.items()
        if getattr(signal, "tripped", False)
    }


class OpenCalls:
    """How many calls are inside `RecordOutcome` (forwarded, waiting, or on their way)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class RecordOutcome:
    def __init__(self, ledger: Ledger, masker: Masker, open_calls: OpenCalls) -> None:
        self._ledger = ledger
        self._masker = masker
        self._open = open_calls

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        self._open.count += 1
        try:
            return await self._recorded(call, proceed)
        finally:
            self._open.count -= 1

    async def _recorded(self, call: Call, proceed: Proceed) -> Result:
        started = time.perf_counter()
        try:
            result = await proceed(call)
        except anyio.get_cancelled_exc_class():
            if call.intent_seq is not None:  # (submit: no await inside a cancelled scope)
                self._unknown(call, call.intent_seq, started, "the call was cancelled after it was forwarded")
            raise
        except OutcomeUnknownError as exc:
            if call.intent_seq is None:
                raise
            self._unknown(call, call.intent_seq, started, exc.message)
            raise
        except (CallError, MCPError) as exc:
            message = exc.message if isinstance(exc, CallError) else exc.error.message
            if call.intent_seq is not None:
                error = call.redacted(self._masker).data(message)
                self._outcome(call, call.intent_seq, started, status="error", error=error)
            elif isinstance(exc, UnrecordedError):  # the ledger failed already: say so, don't try again
                logger.error("call %s not recorded: %s", call.context.correlation_id, message)
            else:  # rejected before any decision (unknown tool, invalid arguments, not the caller's)
                error = call.redacted(self._masker).data(message)
                await self._ledger.append(CallRefused(**_who(call), error=error))
            raise
        except Exception as exc:  # a fault of the gateway itself: still on record before it propagates
            reason = f"the gateway failed: {type(exc).__name__}: {exc}"
            if call.intent_seq is not None:  # it was forwarded, or may have been: it may have run
                self._unknown(call, call.intent_seq, started, call.redacted(self._masker).data(reason))
            else:
                await self._ledger.append(CallRefused(**_who(call), error=call.redacted(self._masker).data(reason)))
            raise
        redaction = call.redacted(self._masker)
        if call.intent_seq is None:  # not forwarded here: record the decision (refused, or held)
            held = call.decision is not None and call.decision.effect is Effect.REQUIRE_APPROVAL
            fields = {
                **_who(call),
                "arguments": redaction.arguments(dict(call.context.arguments)),
                "decision": _decision(call),
                "answer": redaction.data(_answered(result)),
                **({"call_digest": call.held_digest} if call.held_digest else {}),
                **({"approval_id": call.held_approval} if call.held_approval else {}),
            }
            await self._ledger.append(CallHeld(**fields) if held else CallRefused(**fields))
            return result
        stored = self._masker.limit(redaction.result(result))
        self._outcome(
            call, call.intent_seq, started, status="tool_error" if result.get("isError") else "ok", result=stored
        )
        return result

    def _unknown(self, call: Call, intent_seq: int, started: float, reason: str) -> None:
        """Forwarded, and no outcome seen: recorded as such, never as an error (it may have run)."""
        duration = round((time.perf_counter() - started) * 1000, 3)
        self._ledger.submit(
            CallOutcomeUnknown(**_who(call), intent_seq=intent_seq, duration_ms=duration, reason=reason)
        )

    def _outcome(self, call: Call, intent_seq: int, started: float, **outcome: Any) -> None:
        """`call.result`: the status, and the result or the error."""
        # The answer does not wait for this entry's fsync: if the gateway dies first, start-up
        # recovery records the call's outcome as unknown, so nothing is silently lost.
        duration = round((time.perf_counter() - started) * 1000, 3)
        self._ledger.submit(CallResult(**_who(call), intent_seq=intent_seq, duration_ms=duration, **outcome))


class RecordIntent:
    """`reads_ahead`: a call to a tool whose operator manifest declares it read-only is forwarded
    while its intent is written; its answer (or error) waits until the intent is durable. Every
    other call waits for its intent before it is forwarded."""

    def __init__(self, ledger: Ledger, masker: Masker, open_calls: OpenCalls, *, reads_ahead: bool = False) -> None:
        self._ledger = ledger
        self._masker = masker
        self._open = open_calls
        self._reads_ahead = reads_ahead

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        if self._reads_ahead and _declared_read_only(call):
            durable = self._ledger.append_soon(self._intent(call), alone=self._open.count == 1)
            try:
                return await proceed(call)
            finally:
                try:
                    call.intent_seq = (await durable).seq
                except Exception as exc:  # (cancellation passes: the entry is written all the same)
                    raise UnrecordedError(
                        f"the ledger could not record this call, so its answer is withheld: {exc}"
                    ) from exc
        try:
            entry = await self._ledger.append(self._intent(call), alone=self._open.count == 1)
        except Exception as exc:
            raise UnrecordedError(f"the ledger could not record this call, so it was not forwarded: {exc}") from exc
        call.intent_seq = entry.seq
        return await proceed(call)

    def _intent(self, call: Call) -> CallIntent:
        return CallIntent(
            **_who(call),
            roles=sorted(call.context.principal.roles),
            arguments=call.redacted(self._masker).arguments(dict(call.context.arguments)),
            manifest=_manifest(call.manifest),
            decision=_decision(call),
            compensation=call.context.compensation,
            **({"approval": call.approval.approval_id} if call.approval is not None else {}),
        )


def _manifest(resolved: ResolvedManifest | None) -> ManifestRecord | None:
    if resolved is None:
        return None
    manifest = resolved.manifest
    return ManifestRecord(
        source=resolved.source,
        reversibility=manifest.reversibility.value,
        impact=manifest.impact.value,
        side_effects=manifest.side_effects,
        compensation=manifest.compensation.tool if manifest.compensation else None,
    )


def _declared_read_only(call: Call) -> bool:
    """Read-only by the operator's own manifest (an upstream's annotations are not trusted for this)."""
    resolved = call.manifest
    return (
        resolved is not None
        and resolved.source == "manifest"
        and resolved.manifest.reversibility is Reversibility.READ_ONLY
    )


def _answered(result: Result) -> Any:
    """What a call that was not forwarded here was answered: the gateway's decision, else (a
    held call that ran meanwhile) the result's structured content."""
    decision = decision_in(result)
    return decision if decision is not None else result.get("structuredContent")
