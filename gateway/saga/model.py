"""The saga of a workflow: its completed steps, how to undo each, and its checkpoints.

Pure value objects and the rollback planner; the store (`store.py`) persists them and the
executor (`rollback.py`) runs plans through the gateway's own pipeline.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gateway.errors import InvalidArgumentsError, UnknownScopeError
from gateway.ledger.privacy import shown


class StepStatus(StrEnum):
    DONE = "done"
    UNKNOWN = "unknown"
    """Forwarded, and no outcome seen (timeout, lost upstream, cancellation): a rollback first
    learns whether it took effect."""
    NOT_APPLIED = "not_applied"
    """An unknown step a rollback found had no effect: nothing to undo."""
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
    idempotent: bool = False
    """The manifest says sending it twice is harmless (see `CompensationSpec.idempotent`)."""


class Reconcile(BaseModel):
    """What a rollback needs to settle an unknown step: the read that tells (rendered), and the
    compensation's templates, rendered once the read has given the call's result."""

    model_config = ConfigDict(frozen=True)
    tool: str | None = None
    """Exposed name of the reconcile read (None: compare the snapshot read with the before-image)."""
    arguments: dict[str, Any] = {}
    found: str = "result"
    compensation: dict[str, Any] | None = None
    """The manifest's compensation spec, with exposed tool names, templates unrendered."""
    snapshot: dict[str, Any] | None = None
    """The manifest's snapshot spec (exposed tool, templates unrendered)."""


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
    reconcile: Reconcile | None = None
    """Set for a step of unknown outcome (`StepStatus.UNKNOWN`)."""
    compensation_sent: bool = False
    """The compensation may have reached the upstream: it is never sent again, only verified."""


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
    action: Literal["compensate", "escalate", "skip", "reconcile"]
    why: str


def rollback_scope(arguments: Mapping[str, Any]) -> tuple[Scope, dict[str, Any]]:
    """The scope a rollback request names (meta-tool arguments, REST body, CLI options) and its
    selection, as `plan` takes it. At most one of to_checkpoint, steps, resource; an empty one (`[]`,
    `""`) is an error, never the whole workflow; a key given as null is absent. Raises
    InvalidArgumentsError with the reason."""
    chosen = [key for key in ("to_checkpoint", "steps", "resource") if arguments.get(key) is not None]
    if len(chosen) > 1:
        raise InvalidArgumentsError(f"give at most one of to_checkpoint, steps, resource (got {', '.join(chosen)})")
    if not chosen:
        return "all", {}
    key, value = chosen[0], arguments[chosen[0]]
    if key == "steps":
        if not isinstance(value, list) or not value or not all(_is_step(s) for s in value):
            raise InvalidArgumentsError("steps must be a non-empty list of step numbers")
        return "steps", {"step_seqs": sorted({int(s) for s in value})}
    if not isinstance(value, str) or not value:
        raise InvalidArgumentsError(f"{key} must be a non-empty string")
    return ("checkpoint", {"checkpoint": value}) if key == "to_checkpoint" else ("resource", {"resource": value})


def _is_step(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def plan(
    steps: list[Step],
    checkpoints: list[Checkpoint],
    scope: Scope = "all",
    *,
    checkpoint: str | None = None,
    step_seqs: Collection[int] | None = None,
    resource: str | None = None,
) -> list[PlannedAction]:
    """The actions of a rollback, newest step first. A scope is exact: UnknownScopeError names the
    checkpoint, the step numbers or the resource the workflow does not have. A step named that is
    already compensated (or only read) has nothing to undo."""
    chosen = [
        s
        for s in steps
        if s.status
        in (
            StepStatus.DONE,
            StepStatus.UNKNOWN,
            StepStatus.COMPENSATING,
            StepStatus.COMPENSATION_FAILED,
            StepStatus.IRREVERSIBLE,
        )
    ]
    if scope == "checkpoint":
        marks = [c for c in checkpoints if c.label == checkpoint]
        if not marks:
            raise UnknownScopeError(f"no checkpoint {checkpoint!r} in this workflow")
        chosen = [s for s in chosen if s.seq > marks[-1].after_seq]
    elif scope == "steps":
        missing = sorted(set(step_seqs or ()) - {s.seq for s in steps})
        if missing or not step_seqs:
            shown_seqs = ", ".join(str(seq) for seq in missing[:10]) + (", ..." if len(missing) > 10 else "")
            raise UnknownScopeError(f"no step {shown_seqs or '(none named)'} in this workflow")
        chosen = [s for s in chosen if s.seq in step_seqs]
    elif scope == "resource":
        if not any(resource in s.resources for s in steps):
            raise UnknownScopeError(f"no step of this workflow touches resource {resource!r}")
        chosen = [s for s in chosen if resource in s.resources]
    actions = []
    for step in sorted(chosen, key=lambda s: s.seq, reverse=True):
        if step.reversibility == "read_only":
            continue
        if step.status is StepStatus.UNKNOWN:
            actions.append(
                PlannedAction(step=step, action="reconcile", why="outcome unknown: read whether it took effect first")
            )
        elif step.status is StepStatus.IRREVERSIBLE or step.reversibility == "irreversible":
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
