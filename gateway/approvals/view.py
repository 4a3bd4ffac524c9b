"""What approvers see of a ticket, wherever they see it (REST API, page, `rollgate approvals
show`): never the raw arguments, only their masked form."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gateway.approvals.ticket import Ticket


class TicketView(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    state: str
    created_at: str
    expires_at: str
    agent: str
    workflow: str
    step: str | None
    tool: str
    arguments: dict[str, Any]
    reversibility: str | None
    impact: str | None
    side_effects: list[str]
    compensation: dict[str, Any] | None
    snapshot: Any
    reasons: list[str]
    rules: list[dict[str, Any]]
    awaiting: list[str]
    approvals: list[dict[str, Any]]
    denied_by: str | None
    denial_reason: str | None
    error: str | None
    executed: bool


def view(ticket: Ticket) -> TicketView:
    manifest = ticket.manifest
    return TicketView(
        id=ticket.id,
        state=ticket.state.value,
        created_at=ticket.created_at,
        expires_at=ticket.expires_at,
        agent=ticket.principal,
        workflow=ticket.workflow,
        step=ticket.step,
        tool=ticket.tool,
        arguments=ticket.display_arguments,
        reversibility=manifest.get("reversibility"),
        impact=manifest.get("impact"),
        side_effects=list(manifest.get("side_effects", [])),
        compensation=manifest.get("compensation"),
        snapshot=ticket.snapshot,
        reasons=ticket.reasons,
        rules=[rule.model_dump() for rule in ticket.rules],
        awaiting=ticket.awaiting(),
        approvals=[a.model_dump() for a in ticket.approvals],
        denied_by=ticket.denied_by,
        denial_reason=ticket.denial_reason,
        error=ticket.error,
        executed=ticket.state.value == "executed",
    )
