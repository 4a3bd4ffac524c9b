"""The saga of a workflow: its completed steps, how to undo each, and its checkpoints.

Pure value objects and the rollback planner; the store (`store.py`) persists them and the
executor (`rollback.py`) runs plans through the gateway's own pipeline.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gateway.ledger.privacy import shown


class StepStatus(StrEnum):
    DONE = "done"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"
    IRREVERSIBLE = "irreversible"


class WorkflowStatus(StrEnum):
    ACTIVE = "active"
    QUARANTINED = "quarantined"
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True, slots=True)
class Owner:
    """The principal a workflow belongs to (its first caller), with the roles it had then."""

    id: str
    roles: frozenset[str] = frozenset()

    def admits(self, principal: str, roles: frozenset[str], shared_roles: frozenset[str]) -> bool:
        """Whether `principal` may act on the workflow: its owner, or an agent sharing one of the
        configured team roles with the owner (`[workflows] shared_roles`)."""
        return principal == self.id or bool(roles & self.roles & shared_roles)


class Compensation(BaseModel):
    """A rendered compensation: the exact call that undoes a step, and how to check it worked."""

    model_config = ConfigDict(frozen=True)
    tool: str
    """Exposed name of the compensating tool (same upstream as the step)."""
    arguments: dict[str, Any]
    verify_tool: str | None = None
    verify_arguments: dict[str, Any] = {}
    expect: dict[str, Any] = {}
    """Paths of the verify read's result and the values they must have."""
    snapshot_tool: str | None = None
    snapshot_arguments: dict[str, Any] = {}
    volatile: list[str] = []


class Step(BaseModel):
    model_config = ConfigDict(frozen=True)
    seq: int
    workflow: str
    correlation_id: str
    principal: str
    tool: str
    """The qualified tool (`server/tool`)."""
    exposed_name: str
    arguments: dict[str, Any]
    result: Any = None
    snapshot: Any = None
    reversibility: str
    impact: str
    side_effects: list[str] = []
    resources: list[str] = []
    compensation: Compensation | None = None
    problem: str | None = None
    """Why a compensable step has no usable compensation (a template path missing, ...)."""
    status: StepStatus = StepStatus.DONE
    attempts: int = 0
    idempotency_key: str | None = None


class Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True)
    workflow: str
    label: str
    after_seq: int
    """Steps with a larger seq are after this checkpoint."""
    state: Any = None
    created_at: str


Scope = Literal["all", "checkpoint", "steps", "resource"]


class PlannedAction(BaseModel):
    model_config = ConfigDict(frozen=True)
    step: Step
    action: Literal["compensate", "escalate", "skip"]
    why: str


def plan(
    steps: list[Step],
    checkpoints: list[Checkpoint],
    scope: Scope = "all",
    *,
    checkpoint: str | None = None,
    step_seqs: Collection[int] | None = None,
    resource: str | None = None,
) -> list[PlannedAction]:
    """The actions of a rollback, newest step first. Raises ValueError for an unknown checkpoint."""
    chosen = [
        s
        for s in steps
        if s.status
        in (StepStatus.DONE, StepStatus.COMPENSATING, StepStatus.COMPENSATION_FAILED, StepStatus.IRREVERSIBLE)
    ]
    if scope == "checkpoint":
        marks = [c for c in checkpoints if c.label == checkpoint]
        if not marks:
            raise ValueError(f"no checkpoint {checkpoint!r} in this workflow")
        chosen = [s for s in chosen if s.seq > marks[-1].after_seq]
    elif scope == "steps":
        chosen = [s for s in chosen if s.seq in (step_seqs or set())]
    elif scope == "resource":
        chosen = [s for s in chosen if resource in s.resources]
    actions = []
    for step in sorted(chosen, key=lambda s: s.seq, reverse=True):
        if step.reversibility == "read_only":
            continue
        if step.status is StepStatus.IRREVERSIBLE or step.reversibility == "irreversible":
            actions.append(
                PlannedAction(
                    step=step,
                    action="escalate",
                    why="irreversible: a person must remediate " + "; ".join(step.side_effects),
                )
            )
        elif step.compensation is None:
            actions.append(
                PlannedAction(
                    step=step, action="escalate", why=step.problem or "no compensation is declared for this tool"
                )
            )
        else:
            actions.append(
                PlannedAction(
                    step=step, action="compensate", why=f"{step.compensation.tool} {shown(step.compensation.arguments)}"
                )
            )
    return actions
