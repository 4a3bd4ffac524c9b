"""What the gateway knows about each workflow while it runs: status, steps, mutations.

Kept in memory for now; the ledger release makes it durable. Policies read it through the input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.policy.document import WorkflowDoc


@dataclass(slots=True)
class _Counters:
    steps: int = 0
    mutations: int = 0
    status: str = "active"


class WorkflowBook:
    def __init__(self, status: Callable[[str], tuple[str, str | None]] | None = None) -> None:
        self._workflows: dict[str, _Counters] = {}
        self._status = status
        """The durable status (quarantined, rolled back) kept by the saga store, when there is one."""

    def view(self, workflow_id: str) -> WorkflowDoc:
        counters = self._workflows.get(workflow_id) or _Counters()
        reason = None
        if self._status is not None:
            counters.status, reason = self._status(workflow_id)
        return WorkflowDoc(
            id=workflow_id,
            status=counters.status,  # type: ignore[arg-type]
            status_reason=reason,
            steps=counters.steps,
            mutations=counters.mutations,
            budget={"mutations": float(counters.mutations)},
        )

    def record(self, workflow_id: str, *, mutation: bool) -> None:
        counters = self._workflows.setdefault(workflow_id, _Counters())
        counters.steps += 1
        counters.mutations += int(mutation)
