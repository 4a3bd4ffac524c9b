"""Running a rollback: compensations newest first, each a real call through the gateway, verified.

Each compensation goes through the same pipeline as any call (policy sees `compensation: true`;
it is ledgered like any call) with an idempotency key of its own, so a retry or a resumed rollback
never compensates a step twice. Transient failures are retried with backoff. After each
compensation a verification read runs: by default the step's snapshot read must return the
before-image again (volatile fields aside); otherwise the manifest's verify read and expectation.
A mismatch counts as a failure. What cannot be compensated, or keeps failing, is escalated to the
approval queue as a manual-remediation item, and the workflow is quarantined.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel

from gateway.errors import CallError, TemplateError
from gateway.manifests.templates import lookup
from gateway.pipeline.snapshot import result_data
from gateway.saga.model import PlannedAction, Scope, Step, StepStatus, WorkflowStatus, plan
from gateway.saga.store import SagaStore

logger = logging.getLogger(__name__)

RunCall = Callable[[str, dict[str, Any], str, bool], Awaitable[dict[str, Any]]]
"""(exposed tool, arguments, workflow, is_compensation) → the tool result, through the pipeline."""
Escalate = Callable[[Step, str], Awaitable[str | None]]
"""(step, why) → the id of the manual-remediation ticket."""
Record = Callable[[str, dict[str, Any]], Awaitable[None]]


class RollbackReport(BaseModel):
    workflow: str
    dry_run: bool
    plan: list[dict[str, Any]]
    compensated: list[int] = []
    escalated: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    status: str = WorkflowStatus.ACTIVE.value
    checkpoint_state: Any = None


class CompensationFailed(Exception):
    pass


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
    ) -> None:
        self._saga = saga
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
            await self._record("rollback.started", {"workflow": workflow, "scope": scope, "plan": report.plan})
            for action in actions:
                await self._apply(action, report)
            if report.escalated or report.failed:
                reason = f"rollback left {len(report.escalated) + len(report.failed)} step(s) to a person"
                self._saga.set_status(workflow, WorkflowStatus.QUARANTINED, reason)
                await self._record("quarantine", {"workflow": workflow, "reason": reason})
                report.status = WorkflowStatus.QUARANTINED.value
            elif scope == "all":
                self._saga.set_status(workflow, WorkflowStatus.ROLLED_BACK, "rolled back")
                report.status = WorkflowStatus.ROLLED_BACK.value
            else:
                report.status = self._saga.status(workflow)[0].value
            self._saga.end_rollback(workflow)
            await self._record(
                "rollback.finished",
                {"workflow": workflow, **report.model_dump(include={"compensated", "escalated", "failed", "status"})},
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
        if action.action == "escalate":
            ticket = await self._escalate(step, action.why)
            report.escalated.append({"step": step.seq, "tool": step.tool, "why": action.why, "ticket": ticket})
            return
        try:
            await self._compensate(step)
            report.compensated.append(step.seq)
        except CompensationFailed as exc:
            self._saga.update_step(step.model_copy(update={"status": StepStatus.COMPENSATION_FAILED}))
            ticket = await self._escalate(step, f"compensation kept failing: {exc}")
            report.failed.append({"step": step.seq, "tool": step.tool, "error": str(exc), "ticket": ticket})

    async def _compensate(self, step: Step) -> None:
        comp = step.compensation
        assert comp is not None
        if step.status is StepStatus.COMPENSATING and await self._verified(step):
            self._saga.update_step(step.model_copy(update={"status": StepStatus.COMPENSATED}))
            return  # it ran before the crash: do not run it again
        step = step.model_copy(update={"status": StepStatus.COMPENSATING})
        self._saga.update_step(step)
        problem = "not attempted"
        for attempt in range(1, self._attempts + 1):
            step = step.model_copy(update={"attempts": step.attempts + 1})
            self._saga.update_step(step)
            try:
                result = await self._run(comp.tool, self._unseal(comp.arguments), step.workflow, True)
                if result.get("isError"):
                    raise CompensationFailed(f"{comp.tool} answered an error: {result_data(result)}")
                if not await self._verified(step):
                    raise CompensationFailed("the verification read does not show the state restored")
            except (CompensationFailed, CallError, TemplateError) as exc:
                problem = str(exc) if not isinstance(exc, CallError) else exc.message
                logger.warning("compensation of step %d failed (attempt %d): %s", step.seq, attempt, problem)
                await anyio.sleep(self._backoff * 2 ** (attempt - 1))
                continue
            self._saga.update_step(step.model_copy(update={"status": StepStatus.COMPENSATED}))
            await self._record(
                "compensation",
                {
                    "workflow": step.workflow,
                    "step": step.seq,
                    "tool": step.tool,
                    "compensation": comp.tool,
                    "attempts": attempt,
                },
            )
            return
        raise CompensationFailed(problem)

    async def _verified(self, step: Step) -> bool:
        comp = step.compensation
        assert comp is not None
        if comp.snapshot_tool is not None and step.snapshot is not None:
            arguments = self._unseal(comp.snapshot_arguments)
            now = result_data(await self._run(comp.snapshot_tool, arguments, step.workflow, False))
            before = self._unseal(step.snapshot)
            return _without(now, comp.volatile) == _without(before, comp.volatile)
        if comp.verify_tool is not None:
            arguments = self._unseal(comp.verify_arguments)
            seen = result_data(await self._run(comp.verify_tool, arguments, step.workflow, False))
            expect = self._unseal(comp.expect)
            try:
                return all(lookup({"result": seen}, path) == value for path, value in expect.items())
            except TemplateError:
                return False
        return False  # an authored compensation is never trusted without a check


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
