"""Running a rollback: compensations newest first, each a real call through the gateway, verified.

Each compensation goes through the same pipeline as any call (policy sees `compensation: true`;
it is ledgered like any call) with an idempotency key of its own, so a retry or a resumed rollback
never compensates a step twice. Transient failures are retried with backoff. After each
compensation a verification read runs: by default the step's snapshot read must return the
before-image again (volatile fields aside); otherwise the manifest's verify read and expectation.
A mismatch counts as a failure. What cannot be compensated, or keeps failing, is escalated to the
approval queue as a manual-remediation item, and the workflow is quarantined.

A compensation tool that keeps failing trips its own circuit breaker (`gateway.guards.breakers`,
one per compensation tool, across workflows): once it has failed `[guards.breakers]
compensation_failures` times in a row (unavailable, an error answer, a verification that does not
show the state restored), the retries stop and every rollback that needs it escalates its step at
once, without sending it, for the cool-down; then one rollback's compensation probes it again. A
refusal by the gateway itself (policy, an open upstream breaker, a lease) is not the tool failing:
it is escalated, and it counts as not sent.

A step whose outcome the gateway never saw (`unknown`) is settled first: the manifest's reconcile
read (or else its snapshot read, against the before-image) tells whether it took effect. If it
did not, there is nothing to undo (`not_applied`); if it did, the read stands in for the call's
result and the compensation is rendered from it; if no read can tell, a person is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import stamina
from pydantic import BaseModel

from gateway.errors import CallError, CompensationFailed, OutcomeUnknownError, TemplateError, Undecided, UpstreamError
from gateway.guards.breakers import Admission, Breakers
from gateway.ledger.events import (
    Compensated,
    Quarantine,
    Record,
    RollbackFinished,
    RollbackStarted,
    StepReconciled,
)
from gateway.ledger.privacy import shown
from gateway.manifests.templates import lookup, render
from gateway.models import result_data
from gateway.saga.model import Compensation, PlannedAction, Scope, Step, StepStatus, WorkflowStatus, plan
from gateway.saga.store import SagaStore

logger = logging.getLogger(__name__)

RunCall = Callable[[str, dict[str, Any], str, bool], Awaitable[dict[str, Any]]]
"""(exposed tool, arguments, workflow, part_of_rollback) → the tool result, through the pipeline.
Every call a rollback makes (compensations, and the reads that settle or verify them) is part of
it: policy sees `compensation: true`, so a quarantined workflow can still be undone."""
Escalate = Callable[[Step, str], Awaitable[str | None]]
"""(step, why) → the id of the manual-remediation ticket."""
REFUSAL_META = "rollgate/decision"
"""Where the gateway's answer to a call it did not run carries its decision
(`gateway.pipeline.verdict.DECISION_META`; the saga sits below the pipeline)."""


class RollbackReport(BaseModel):
    workflow: str
    dry_run: bool
    plan: list[dict[str, Any]]
    compensated: list[int] = []
    not_applied: list[int] = []
    """Steps of unknown outcome that the reconcile read showed never took effect."""
    escalated: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    status: str = WorkflowStatus.ACTIVE.value
    checkpoint_state: Any = None


class Rollbacks:
    def __init__(
        self,
        saga: SagaStore,
        run_call: RunCall,
        escalate: Escalate,
        record: Record,
        attempts: int = 3,
        backoff: float = 0.2,
        unseal: Callable[[Any], Any] = lambda value: value,
        breakers: Breakers | None = None,
    ) -> None:
        """`breakers`: one circuit breaker per compensation tool (None: compensations have none)."""
        self._saga = saga
        self._breakers = breakers
        self._unseal = unseal
        self._run = run_call
        self._escalate = escalate
        self._record = record
        self._attempts = attempts
        self._backoff = backoff
        self._locks: dict[str, anyio.Lock] = {}

    def plan(self, workflow: str, scope: Scope = "all", **selection: Any) -> list[PlannedAction]:
        return plan(self._saga.steps(workflow), self._saga.checkpoints(workflow), scope, **selection)

    async def run(
        self, workflow: str, scope: Scope = "all", *, dry_run: bool = False, **selection: Any
    ) -> RollbackReport:
        lock = self._locks.setdefault(workflow, anyio.Lock())
        async with lock:  # one rollback of a workflow at a time
            actions = self.plan(workflow, scope, **selection)
            report = RollbackReport(workflow=workflow, dry_run=dry_run, plan=[_describe(a) for a in actions])
            if scope == "checkpoint":
                marks = [c for c in self._saga.checkpoints(workflow) if c.label == selection.get("checkpoint")]
                report.checkpoint_state = marks[-1].state if marks else None
            if dry_run:
                return report
            self._saga.begin_rollback(workflow, scope, selection)
            await self._record(RollbackStarted(workflow=workflow, scope=scope, plan=report.plan))
            for action in actions:
                await self._apply(action, report)
            if report.escalated or report.failed:
                reason = f"rollback left {len(report.escalated) + len(report.failed)} step(s) to a person"
                self._saga.set_status(workflow, WorkflowStatus.QUARANTINED, reason)
                await self._record(Quarantine(workflow=workflow, reason=reason))
                report.status = WorkflowStatus.QUARANTINED.value
            elif scope == "all":
                self._saga.set_status(workflow, WorkflowStatus.ROLLED_BACK, "rolled back")
                report.status = WorkflowStatus.ROLLED_BACK.value
            else:
                report.status = self._saga.status(workflow)[0].value
            self._saga.end_rollback(workflow)
            await self._record(
                RollbackFinished(
                    workflow=workflow,
                    compensated=report.compensated,
                    not_applied=report.not_applied,
                    escalated=report.escalated,
                    failed=report.failed,
                    status=report.status,
                )
            )
            return report

    async def resume(self) -> None:
        """After a restart: finish rollbacks that a crash interrupted (verifying before redoing)."""
        for workflow, scope, selection in self._saga.in_flight_rollbacks():
            seqs = {s.seq for s in self._saga.steps(workflow) if s.status is StepStatus.COMPENSATING}
            logger.warning("resuming the rollback of workflow %s (scope %s, steps %s)", workflow, scope, sorted(seqs))
            await self.run(workflow, scope, **selection)

    async def _apply(self, action: PlannedAction, report: RollbackReport) -> None:
        step = action.step
        if action.action == "reconcile":
            try:
                settled = await self._settle(step)
            except Undecided as exc:
                ticket = await self._escalate(step, f"outcome unknown: {exc}")
                report.escalated.append({"step": step.seq, "tool": step.tool, "why": str(exc), "ticket": ticket})
                return
            if settled.status is StepStatus.NOT_APPLIED:
                report.not_applied.append(step.seq)
                return
            action = plan([settled], [], "all")[0]
            step = settled
        if action.action == "escalate":
            ticket = await self._escalate(step, action.why)
            report.escalated.append({"step": step.seq, "tool": step.tool, "why": action.why, "ticket": ticket})
            return
        try:
            await self._compensate(step)
            report.compensated.append(step.seq)
        except CompensationFailed as exc:
            saved = next((s for s in self._saga.steps(step.workflow) if s.seq == step.seq), step)
            self._saga.update_step(saved.model_copy(update={"status": StepStatus.COMPENSATION_FAILED}))
            ticket = await self._escalate(saved, f"compensation failed: {exc}")
            report.failed.append({"step": step.seq, "tool": step.tool, "error": str(exc), "ticket": ticket})

    async def _settle(self, step: Step) -> Step:
        """An unknown step as it really stands: NOT_APPLIED, or DONE/IRREVERSIBLE with the
        compensation rendered from what the read found. Raises `Undecided`."""
        rec = step.reconcile
        if rec is None:
            raise Undecided("the step was saved without the reads that could tell")
        data: dict[str, Any] = {"args": self._unseal(step.arguments), "snapshot": self._unseal(step.snapshot)}
        took_effect: bool
        try:
            if rec.tool is not None:
                seen = await self._read(rec.tool, self._unseal(rec.arguments), step.workflow)
                try:
                    found = lookup({"result": seen}, rec.found)
                except TemplateError:
                    found = None
                took_effect = found not in (None, "", [], {})
                data["result"] = found
            elif rec.snapshot is not None and step.snapshot is not None:
                arguments = render(rec.snapshot.get("args", {}), data)
                now = await self._read(rec.snapshot["tool"], arguments, step.workflow)
                volatile = rec.snapshot.get("volatile", [])
                took_effect = _without(now, volatile) != _without(data["snapshot"], volatile)
                data["result"] = None
            else:
                raise Undecided("the manifest declares no reconcile or snapshot read that could tell")
        except CallError as exc:
            raise Undecided(f"the read that would tell failed: {exc.message}") from None
        await self._record(
            StepReconciled(workflow=step.workflow, step=step.seq, tool=step.tool, took_effect=took_effect)
        )
        if not took_effect:
            settled = step.model_copy(update={"status": StepStatus.NOT_APPLIED})
            self._saga.update_step(settled)
            return settled
        compensation, problem = _rendered(self._unseal(rec.compensation), rec.snapshot, data)
        status = StepStatus.IRREVERSIBLE if step.reversibility == "irreversible" else StepStatus.DONE
        settled = step.model_copy(
            update={"status": status, "compensation": compensation, "problem": problem, "result": data["result"]}
        )
        self._saga.update_step(settled)
        return settled

    async def _read(self, tool: str, arguments: dict[str, Any], workflow: str) -> Any:
        answer = await self._run(tool, arguments, workflow, True)
        if answer.get("isError"):
            raise Undecided(f"{tool} answered an error: {result_data(answer)}")
        return result_data(answer)

    async def _compensate(self, step: Step) -> None:
        """Run the step's compensation at most once, then prove it worked.

        Retried only while the compensation cannot have reached the upstream (it was unavailable);
        once it was sent, it is never sent again: an answer that went missing is settled by the
        verification read, and a verification that does not match is read once more, then
        escalated with both images (what the state should be, what it is)."""
        comp = step.compensation
        assert comp is not None
        if step.compensation_sent:  # an earlier rollback (or one a crash cut short) sent it
            if await self._verified_safely(step):
                self._compensated(step)
                await self._record_compensation(step, comp.tool)
                return
            if comp.idempotent:
                logger.warning("step %d: %s was sent before; idempotent, so it is sent again", step.seq, comp.tool)
            else:
                raise CompensationFailed(
                    f"{comp.tool} was sent before and the state is not restored (expected "
                    f"{self._expected(step)}, found {await self._seen(step)}): not sent again without a person"
                )
        admission = self._admit(comp.tool)
        try:
            await self._send(step, comp)
        finally:
            if self._breakers is not None and admission is not None:
                self._breakers.release(admission)
        if self._breakers is not None:
            self._breakers.succeeded(comp.tool)

    def _admit(self, tool: str) -> Admission | None:
        """The compensation tool's breaker lets this compensation be sent, or it is escalated."""
        if self._breakers is None:
            return None
        admission = self._breakers.admit(tool)
        if not admission.allowed:
            wait = f"; it is tried again in {admission.retry_after:.0f} s" if admission.retry_after else ""
            raise CompensationFailed(
                f"{tool} failed {admission.failures} times in a row, so its circuit breaker is "
                f"{admission.state.value.replace('_', '-')}{wait}: not sent, escalated to a person instead"
            )
        return admission

    async def _send(self, step: Step, comp: Compensation) -> None:
        step = step.model_copy(update={"status": StepStatus.COMPENSATING})
        self._saga.update_step(step)
        try:
            async for attempt in stamina.retry_context(
                on=self._retryable(comp.tool),
                attempts=self._attempts,
                timeout=None,
                wait_initial=self._backoff,
                wait_jitter=0,
            ):
                with attempt:  # saved as sent before it is sent; taken back if it provably was not
                    step = step.model_copy(update={"attempts": step.attempts + 1, "compensation_sent": True})
                    self._saga.update_step(step)
                    try:
                        result = await self._run(comp.tool, self._unseal(comp.arguments), step.workflow, True)
                    except Exception as exc:
                        if _not_sent(exc):
                            step = step.model_copy(update={"compensation_sent": False})
                            self._saga.update_step(step)
                            self._failed(comp.tool, getattr(exc, "message", str(exc)))
                        raise
        except OutcomeUnknownError as exc:
            logger.warning("compensation of step %d got no answer (%s): reading the state", step.seq, exc.message)
        except (CallError, TemplateError) as exc:  # (unavailable: counted per attempt above)
            raise CompensationFailed(exc.message if isinstance(exc, CallError) else str(exc)) from None
        else:
            if result.get("isError"):
                if _refused(result):  # the gateway answered, not the tool: nothing was sent
                    self._saga.update_step(step.model_copy(update={"compensation_sent": False}))
                    raise CompensationFailed(f"{comp.tool} was refused by the gateway: {result_data(result)}")
                self._failed(comp.tool, "it answered an error")
                raise CompensationFailed(f"{comp.tool} answered an error: {result_data(result)}")
        if not await self._verified_safely(step):
            await anyio.sleep(self._backoff)  # the upstream may apply it a moment later: one more read
            if not await self._verified_safely(step):
                self._failed(comp.tool, "the verification read does not show the state restored")
                raise CompensationFailed(
                    f"{comp.tool} ran once, but the verification read does not show the state restored "
                    f"(expected {self._expected(step)}, found {await self._seen(step)}); not run again"
                )
        self._compensated(step)
        await self._record_compensation(step, comp.tool)

    def _failed(self, tool: str, why: str) -> None:
        if self._breakers is not None:
            self._breakers.failed(tool, why)

    def _retryable(self, tool: str) -> Callable[[Exception], bool]:
        """Retry what cannot have been sent, until the tool's breaker opens."""
        breakers = self._breakers

        def retryable(exc: Exception) -> bool:
            return _not_sent(exc) and (breakers is None or not breakers.is_open(tool))

        return retryable

    def _compensated(self, step: Step) -> None:
        self._saga.update_step(step.model_copy(update={"status": StepStatus.COMPENSATED}))

    async def _record_compensation(self, step: Step, tool: str) -> None:
        await self._record(
            Compensated(
                workflow=step.workflow, step=step.seq, tool=step.tool, compensation=tool, attempts=step.attempts
            )
        )

    async def _verified_safely(self, step: Step) -> bool:
        try:
            return await self._verified(step)
        except (CallError, TemplateError) as exc:
            logger.warning("verification read of step %d failed: %s", step.seq, exc)
            return False

    def _expected(self, step: Step) -> Any:
        comp = step.compensation
        assert comp is not None
        if comp.snapshot_tool is not None and step.snapshot is not None:
            return shown(_without(self._unseal(step.snapshot), comp.volatile))
        return shown(self._unseal(comp.expect))

    async def _seen(self, step: Step) -> Any:
        comp = step.compensation
        assert comp is not None
        tool, arguments = (
            (comp.snapshot_tool, comp.snapshot_arguments)
            if comp.snapshot_tool is not None and step.snapshot is not None
            else (comp.verify_tool, comp.verify_arguments)
        )
        if tool is None:
            return "nothing (no read is declared)"
        try:
            return shown(result_data(await self._run(tool, self._unseal(arguments), step.workflow, True)))
        except CallError as exc:
            return f"no answer ({exc.message})"

    async def _verified(self, step: Step) -> bool:
        comp = step.compensation
        assert comp is not None
        if comp.snapshot_tool is not None and step.snapshot is not None:
            arguments = self._unseal(comp.snapshot_arguments)
            now = result_data(await self._run(comp.snapshot_tool, arguments, step.workflow, True))
            before = self._unseal(step.snapshot)
            return bool(_without(now, comp.volatile) == _without(before, comp.volatile))
        if comp.verify_tool is not None:
            arguments = self._unseal(comp.verify_arguments)
            seen = result_data(await self._run(comp.verify_tool, arguments, step.workflow, True))
            expect = self._unseal(comp.expect)
            try:
                return all(lookup({"result": seen}, path) == value for path, value in expect.items())
            except TemplateError:
                return False
        return False  # an authored compensation is never trusted without a check


def _refused(result: dict[str, Any]) -> bool:
    """Whether an error answer is the gateway's own refusal (it carries its decision)."""
    meta = result.get("_meta")
    return isinstance(meta, dict) and REFUSAL_META in meta


def _not_sent(exc: Exception) -> bool:
    """Retry only what cannot have reached the upstream (it was unavailable, not unanswered)."""
    return isinstance(exc, UpstreamError) and not isinstance(exc, OutcomeUnknownError)


def _rendered(
    templates: dict[str, Any] | None, snapshot: dict[str, Any] | None, data: dict[str, Any]
) -> tuple[Compensation | None, str | None]:
    """The compensation of a settled step, from the manifest's templates and what the read found."""
    if templates is None:
        return None, None
    verify = templates.get("verify")
    try:
        return Compensation(
            tool=templates["tool"],
            arguments=render(templates.get("args", {}), data),
            verify_tool=verify["tool"] if verify else None,
            verify_arguments=render(verify.get("args", {}), data) if verify else {},
            expect=render(verify.get("expect", {}), data) if verify else {},
            snapshot_tool=snapshot["tool"] if snapshot and data.get("snapshot") is not None else None,
            snapshot_arguments=render(snapshot.get("args", {}), data) if snapshot and data.get("snapshot") else {},
            volatile=snapshot.get("volatile", []) if snapshot else [],
            idempotent=bool(templates.get("idempotent")),
        ), None
    except TemplateError as exc:
        return None, f"compensation {templates['tool']} cannot be rendered from what the read found: {exc.message}"


def _without(value: Any, volatile: list[str]) -> Any:
    if not isinstance(value, dict) or not volatile:
        return value
    copy = dict(value)
    for path in volatile:
        head, _, rest = path.partition(".")
        if rest and isinstance(copy.get(head), dict):
            copy[head] = _without(copy[head], [rest])
        else:
            copy.pop(head, None)
    return copy


def _describe(action: PlannedAction) -> dict[str, Any]:
    step = action.step
    return {
        "step": step.seq,
        "tool": step.tool,
        "action": action.action,
        "why": action.why,
        "resources": step.resources,
        "status": step.status.value,
    }
