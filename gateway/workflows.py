"""What the gateway knows about each workflow and principal while it runs: status, owner,
steps, mutations. All of it is durable in the saga store, so a restart resets no budget: status,
owner and quarantines are read from it, and the counters are kept in memory, read from it the
first time a workflow or principal is seen and written back at each mutation (a read counted
since the last mutation may be lost in a crash; a mutation never is). Policies read all of it
through the input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.models import Principal
from gateway.policy.document import PrincipalDoc, WorkflowDoc


@dataclass(slots=True)
class _Counters:
    steps: int = 0
    mutations: int = 0
    status: str = "active"


class PrincipalFacts:
    """What the saga store knows of a principal (its own quarantine, its quarantined workflows)."""

    def status(self, principal: str) -> tuple[str, str | None]:
        return "active", None

    def quarantined_of(self, principal: str) -> list[str]:
        return []

    def owner_of(self, workflow: str) -> str | None:
        return None

    def counts(self, kind: str, key: str) -> tuple[int, int]:
        """(steps, mutations) saved for a workflow or principal; none where nothing is kept."""
        return 0, 0

    def save_counts(self, kind: str, key: str, steps: int, mutations: int) -> None:
        return None


class WorkflowBook:
    def __init__(
        self, status: Callable[[str], tuple[str, str | None]] | None = None, facts: PrincipalFacts | None = None
    ) -> None:
        self._workflows: dict[str, _Counters] = {}
        self._status = status
        """The durable status (quarantined, rolled back) kept by the saga store, when there is one."""
        self._facts = facts or PrincipalFacts()
        self._principals: dict[str, _Counters] = {}

    def _counters(self, kind: str, key: str) -> _Counters:
        book = self._workflows if kind == "workflow" else self._principals
        counters = book.get(key)
        if counters is None:
            steps, mutations = self._facts.counts(kind, key)
            counters = book[key] = _Counters(steps, mutations)
        return counters

    def view(self, workflow_id: str) -> WorkflowDoc:
        counters = self._counters("workflow", workflow_id)
        reason = None
        if self._status is not None:
            counters.status, reason = self._status(workflow_id)
        return WorkflowDoc(
            id=workflow_id,
            owner=self._facts.owner_of(workflow_id),
            status=counters.status,  # type: ignore[arg-type]
            status_reason=reason,
            steps=counters.steps,
            mutations=counters.mutations,
            budget={"mutations": float(counters.mutations)},
        )

    def principal(self, principal: Principal) -> PrincipalDoc:
        status, reason = self._facts.status(principal.id)
        return PrincipalDoc.model_construct(
            id=principal.id,
            roles=sorted(principal.roles),
            quarantined=status == "quarantined",
            quarantine_reason=reason,
            quarantined_workflows=self._facts.quarantined_of(principal.id),
            mutations=self._counters("principal", principal.id).mutations,
        )

    def counts(self, kind: str, key: str) -> tuple[int, int]:
        """(calls, mutations) counted so far for a workflow or a principal: the budget guard's
        (`gateway.guards.budgets`) call and mutation budgets are measured on these."""
        counters = self._counters(kind, key)
        return counters.steps, counters.mutations

    def record(self, workflow_id: str, *, mutation: bool, principal: str | None = None) -> None:
        """Count one allowed call (an executed one: a held call is counted when it runs)."""
        counters = self._counters("workflow", workflow_id)
        counters.steps += 1
        counters.mutations += int(mutation)
        own = self._counters("principal", principal) if principal is not None else None
        if own is not None:
            own.steps += 1
            own.mutations += int(mutation)
        if not mutation:
            return
        self._facts.save_counts("workflow", workflow_id, counters.steps, counters.mutations)
        if principal is not None and own is not None:
            self._facts.save_counts("principal", principal, own.steps, own.mutations)
