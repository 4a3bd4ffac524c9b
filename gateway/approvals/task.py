"""A ticket as an MCP task (2025-11-25 `Task`): the task id is the approval id."""

from __future__ import annotations

from typing import Any

from gateway.approvals.ticket import State, Ticket

POLL_MS = 1000


def task_of(ticket: Ticket) -> dict[str, Any]:
    status, message = {
        State.PENDING: ("working", "waiting for approval: " + "; ".join(ticket.awaiting())),
        State.APPROVED: ("working", "approved; about to run"),
        State.EXECUTING: ("working", "running"),
        State.EXECUTED: ("completed", "approved and run"),
        State.FAILED: ("failed", ticket.error or "failed"),
        State.DENIED: ("failed", f"denied by {ticket.denied_by}: {ticket.denial_reason}"),
        State.EXPIRED: ("failed", "expired without a decision"),
    }[ticket.state]
    return {
        "taskId": ticket.id,
        "status": status,
        "statusMessage": message,
        "createdAt": ticket.created_at,
        "lastUpdatedAt": ticket.created_at,
        "ttl": None,
        "pollInterval": POLL_MS,
    }
