"""Approval tickets and their state machine: pure functions, no I/O.

    pending ──approve (rules met)──► approved ──► executing ──► executed
       │ └──approve (rules not yet met): stays pending, approval recorded          └─► failed
       ├──deny──► denied
       ├──withdraw (by the agent that asked)──► denied
       └──TTL──► expired (a denial with reason "expired")

Separation of duties: an approver is an identity of its own, never the agent that asked; each
approver counts once; a rule {role, count} is met by `count` distinct approvers holding `role`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

import rfc8785
from pydantic import BaseModel, ConfigDict

from gateway.errors import AlreadyDecided, NotAllowed
from gateway.ledger.entry import jsonable
from gateway.policy.document import ApproverRule


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"


FINAL = {State.DENIED, State.EXPIRED, State.EXECUTED, State.FAILED}
OPEN = {State.PENDING, State.APPROVED, State.EXECUTING}


class Approval(BaseModel):
    model_config = ConfigDict(frozen=True)
    approver: str
    roles: list[str]
    comment: str = ""
    at: str


class Ticket(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    state: State
    version: int = 0
    created_at: str
    expires_at: str
    principal: str
    principal_roles: list[str] = []
    workflow: str
    step: str | None = None
    correlation_id: str
    tool: str
    """The qualified tool that will run (`server/tool`)."""
    exposed_name: str
    arguments: dict[str, Any]
    """The arguments to run: sealed (`{"sealed": …}`) when the call had secrets."""
    display_arguments: dict[str, Any]
    """Arguments as approvers see them (masked paths replaced by digests)."""
    mask: list[str] = []
    """The held decision's mask paths, which stay in force when the call runs."""
    meta: dict[str, Any] = {}
    manifest: dict[str, Any] = {}
    snapshot: Any = None
    decision_id: str
    reasons: list[str] = []
    rules: list[ApproverRule] = []
    approvals: list[Approval] = []
    denied_by: str | None = None
    denial_reason: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    dedup_key: str = ""
    """The call's digest (`call_digest`), also recorded in the ledger when the call was held."""
    manual: bool = False
    """A manual-remediation item (a step a rollback could not undo): approving it records that a
    person fixed it; nothing is executed."""
    typed_output: bool = False
    """The tool declares an `outputSchema`: answers about this call carry no `structuredContent`,
    which would not conform to it (the decision is in `_meta`)."""

    def awaiting(self) -> list[str]:
        """What is still needed, in words."""
        needed = []
        for rule in self.rules:
            have = sum(rule.role in a.roles for a in self.approvals)
            if have < rule.count:
                needed.append(f"{rule.count - have} more of role {rule.role!r}")
        return needed


def call_digest(principal: str, workflow: str, tool: str, arguments: dict[str, Any]) -> str:
    """SHA-256 of the RFC 8785 canonical [principal, workflow, resolved tool, arguments].

    Two requests with the same digest are the same call (an agent retrying while it waits); the
    digest recorded when a call is held is what an approval may execute, and nothing else.
    """
    # Integers beyond ±(2^53-1) are digested as the ledger records them (`jsonable`): RFC 8785 has none.
    return hashlib.sha256(rfc8785.dumps(jsonable([principal, workflow, tool, arguments]))).hexdigest()


def approve(ticket: Ticket, approver: str, roles: set[str], comment: str, at: datetime) -> Ticket:
    _open_for_decision(ticket, approver, at)
    if any(a.approver == approver for a in ticket.approvals):
        raise AlreadyDecided(f"{approver} has already approved {ticket.id}")
    useful = [rule.role for rule in ticket.rules if rule.role in roles]
    if not useful:
        wanted = ", ".join(f"{r.count} of {r.role!r}" for r in ticket.rules)
        raise NotAllowed(f"{approver} holds none of the roles this call needs ({wanted})")
    approvals = [
        *ticket.approvals,
        Approval(approver=approver, roles=sorted(roles), comment=comment, at=at.isoformat()),
    ]
    updated = ticket.model_copy(update={"approvals": approvals})
    state = State.APPROVED if not updated.awaiting() else State.PENDING
    return updated.model_copy(update={"state": state})


def deny(ticket: Ticket, approver: str, roles: set[str], reason: str, at: datetime) -> Ticket:
    _open_for_decision(ticket, approver, at)
    if not any(rule.role in roles for rule in ticket.rules):
        raise NotAllowed(f"{approver} holds none of the roles that decide on {ticket.id}")
    return ticket.model_copy(update={"state": State.DENIED, "denied_by": approver, "denial_reason": reason})


def withdraw(ticket: Ticket, requester: str, reason: str) -> Ticket:
    """The agent that asked takes its request back (an MCP `tasks/cancel`): a denial in its name."""
    if requester != ticket.principal:
        raise NotAllowed(f"{requester} did not ask for {ticket.id} and cannot withdraw it")
    if ticket.state is not State.PENDING:
        raise AlreadyDecided(f"{ticket.id} is {ticket.state.value}, no longer pending")
    return ticket.model_copy(update={"state": State.DENIED, "denied_by": requester, "denial_reason": reason})


def withdrawn(ticket: Ticket) -> bool:
    return ticket.state is State.DENIED and ticket.denied_by == ticket.principal


def expire(ticket: Ticket, at: datetime) -> Ticket | None:
    """The expired ticket, or None when it has not expired (or is past deciding)."""
    if ticket.state is State.PENDING and datetime.fromisoformat(ticket.expires_at) <= at:
        return ticket.model_copy(update={"state": State.EXPIRED, "denial_reason": "expired"})
    return None


def _open_for_decision(ticket: Ticket, approver: str, at: datetime) -> None:
    if approver == ticket.principal:
        raise NotAllowed(f"{approver} asked for this call and cannot decide on it (separation of duties)")
    if ticket.state is not State.PENDING:
        raise AlreadyDecided(f"{ticket.id} is {ticket.state.value}, no longer pending")
    if datetime.fromisoformat(ticket.expires_at) <= at:
        raise AlreadyDecided(f"{ticket.id} has expired")
