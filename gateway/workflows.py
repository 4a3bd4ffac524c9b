"""What the gateway knows about each workflow and principal while it runs: status, owner,
steps, mutations. Status, owner and quarantines are durable (the saga store); the counters are
kept in memory. Policies read all of it through the input.
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


class WorkflowBook:
    def __init__(
        self, status: Callable[[str], tuple[str, str | None]] | None = None, facts: PrincipalFacts | None = None
    ) -> None:
        self._workflows: dict[str, _Counters] = {}
        self._status = status
        """The durable status (quarantined, rolled back) kept by the saga store, when there is one."""
        self._facts = facts or PrincipalFacts()
        self._mutations: dict[str, int] = {}

    def view(self, workflow_id: str) -> WorkflowDoc:
        counters = self._workflows.get(workflow_id) or _Counters()
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
            mutations=self._mutations.get(principal.id, 0),
        )

    def record(self, workflow_id: str, *, mutation: bool, principal: str | None = None) -> None:
        counters = self._workflows.setdefault(workflow_id, _Counters())
        counters.steps += 1
        counters.mutations += int(mutation)
        if principal is not None and mutation:
            self._mutations[principal] = self._mutations.get(principal, 0) + 1
