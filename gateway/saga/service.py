"""The gateway's workflow operations: begin, checkpoint, status, rollback, quarantine, release.

Glue between the saga store, the rollback executor, the approval queue (for escalations) and the
ledger; the meta-tools, the REST API and the CLI all call these.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from gateway.approvals.queue import ApprovalQueue
from gateway.clock import SYSTEM, Clock
from gateway.errors import UnknownPrincipalError
from gateway.guards.breakers import Breakers
from gateway.ids import new_id
from gateway.ledger.events import Quarantine, QuarantineReleased, Record, WorkflowCheckpoint
from gateway.ledger.privacy import Masker, shown
from gateway.models import CallContext, Principal
from gateway.policy.document import ApproverRule
from gateway.saga.current import new_workflow_id
from gateway.saga.model import Checkpoint, Scope, Step, WorkflowStatus
from gateway.saga.rollback import RollbackReport, Rollbacks, RunCall
from gateway.saga.store import SagaStore

ROLLBACK_PRINCIPAL = Principal("rollgate-rollback", frozenset({"operator"}))


class Workflows:
    def __init__(
        self,
        saga: SagaStore,
        record: Record,
        run_call: RunCall | None = None,
        approvals: ApprovalQueue | None = None,
        masker: Masker | None = None,
        clock: Clock = SYSTEM,
        *,
        compensation_breakers: Breakers | None = None,
    ) -> None:
        """`run_call` runs the compensations and verification reads of a rollback through the
        gateway's pipeline (without it, nothing can be rolled back); `approvals` takes the steps a
        rollback escalates to a person; `compensation_breakers` stop a compensation tool that keeps
        failing (`gateway.saga.rollback`)."""
        self.saga = saga
        self.clock = clock
        self._record = record
        self._approvals = approvals
        self.rollbacks = (
            None
            if run_call is None
            else Rollbacks(
                saga, run_call, self._escalate, record, unseal=_unsealer(masker), breakers=compensation_breakers
            )
        )

    def begin(self, principal: Principal, name: str | None, atomic: bool) -> str:
        workflow = new_workflow_id()
        self.saga.claim(workflow, principal.id, principal.roles)
        self.saga.set_status(workflow, WorkflowStatus.ACTIVE, "atomic" if atomic else None)
        return workflow

    def authorize(self, principal: Principal, workflow: str, shared_roles: frozenset[str]) -> None:
        """Raise NotYoursError unless `principal` may act on `workflow` (claiming it if new)."""
        self.saga.authorize(workflow, principal.id, principal.roles, shared_roles)

    def require(self, workflow: str) -> None:
        """UnknownWorkflowError unless something was recorded of `workflow` (an owner, a status, a step)."""
        self.saga.require(workflow)

    def require_principal(self, principal: str, configured: Collection[str]) -> None:
        """UnknownPrincipalError unless `principal` is configured or the saga store has seen it."""
        if principal not in configured and not self.saga.principal_known(principal):
            raise UnknownPrincipalError(f"no agent {principal!r}: it is not configured and was never seen")

    async def rollback(
        self, workflow: str, scope: Scope = "all", *, dry_run: bool = False, **selection: Any
    ) -> RollbackReport:
        """Roll back a recorded workflow, exactly the scope asked: UnknownWorkflowError or
        UnknownScopeError (naming what is unknown) and nothing is undone."""
        self.require(workflow)
        assert self.rollbacks is not None, "bind() runs when the gateway starts"
        return await self.rollbacks.run(workflow, scope, dry_run=dry_run, **selection)

    async def quarantine_principal(self, principal: str, reason: str) -> None:
        self.saga.set_principal_status(principal, WorkflowStatus.QUARANTINED, reason)
        await self._record(Quarantine(principal=principal, reason=reason))

    async def release_principal(self, principal: str, by: str) -> None:
        self.saga.set_principal_status(principal, WorkflowStatus.ACTIVE, None)
        await self._record(QuarantineReleased(principal=principal, by=by))

    def is_atomic(self, workflow: str) -> bool:
        status, reason = self.saga.status(workflow)
        return status is WorkflowStatus.ACTIVE and reason == "atomic"

    async def checkpoint(self, workflow: str, label: str, state: Any) -> Checkpoint:
        mark = Checkpoint(
            workflow=workflow,
            label=label,
            after_seq=self.saga.last_seq(workflow),
            state=state,
            created_at=self.clock.now().isoformat(),
        )
        self.saga.add_checkpoint(mark)
        await self._record(WorkflowCheckpoint(workflow=workflow, label=label, after_step=mark.after_seq))
        return mark

    def status(self, workflow: str) -> dict[str, Any]:
        status, reason = self.saga.status(workflow)
        return {
            "workflow": workflow,
            "status": status.value,
            "reason": reason,
            "steps": [
                {
                    "step": s.seq,
                    "tool": s.tool,
                    "status": s.status.value,
                    "reversibility": s.reversibility,
                    "resources": s.resources,
                    "compensation": s.compensation.tool if s.compensation else None,
                }
                for s in self.saga.steps(workflow)
            ],
            "checkpoints": [{"label": c.label, "after_step": c.after_seq} for c in self.saga.checkpoints(workflow)],
        }

    async def quarantine(self, workflow: str, reason: str) -> None:
        self.saga.set_status(workflow, WorkflowStatus.QUARANTINED, reason)
        await self._record(Quarantine(workflow=workflow, reason=reason))

    async def release(self, workflow: str, by: str) -> None:
        self.saga.set_status(workflow, WorkflowStatus.ACTIVE, None)
        await self._record(QuarantineReleased(workflow=workflow, by=by))

    async def _escalate(self, step: Step, why: str) -> str | None:
        """A step nobody can undo automatically becomes a manual-remediation item in the queue."""
        if self._approvals is None:
            return None
        ticket = self._approvals.new_ticket(
            principal=step.principal,
            workflow=step.workflow,
            step=str(step.seq),
            correlation_id=step.correlation_id,
            tool=step.tool,
            exposed_name=f"manual remediation of {step.tool}",
            arguments={"step": step.seq},
            display_arguments={
                "step": step.seq,
                "arguments": shown(step.arguments),
                "side_effects": step.side_effects,
                "result": shown(step.result.get("structuredContent")) if isinstance(step.result, dict) else None,
            },
            manifest={"reversibility": step.reversibility, "impact": step.impact, "side_effects": step.side_effects},
            snapshot=shown(step.snapshot),
            decision_id=f"rollback:{step.workflow}:{step.seq}",
            reasons=[f"rollback could not undo step {step.seq}: {why}"],
            rules=[ApproverRule(role="approver", count=1)],
            manual=True,
        )
        ticket, _ = await self._approvals.request(ticket)
        return ticket.id


def _unsealer(masker: Masker | None) -> Callable[[object], object]:
    return masker.unseal if masker is not None else (lambda value: value)


def compensation_context(tool: str, arguments: dict[str, Any], workflow: str, compensation: bool) -> CallContext:
    return CallContext(
        principal=ROLLBACK_PRINCIPAL,
        requested_name=tool,
        arguments=arguments,
        workflow_id=workflow,
        step=None,
        correlation_id=new_id("call"),
        compensation=compensation,
        internal=True,
    )
