"""Calls as MCP tasks: pure shapes, no I/O. A held call's task id is its approval id.

Two eras:

- 2025-11-25, the core `tasks` capability: `Task` (`ttl`, `pollInterval`); `tools/call` answers
  `CreateTaskResult` (`{"task": Task}`) and `tasks/result` gives the payload.
- 2026-07-28, the `io.modelcontextprotocol/tasks` extension: `DetailedTask` (`ttlMs`,
  `pollIntervalMs`), which carries the final result or error inline; `tools/call` answers
  `resultType: "task"` with the task's fields at the top level.

A call that needed no approval but was asked for as a 2025-11-25 task ran at once: its task is
born completed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.approvals.ticket import State, Ticket, withdrawn

POLL_MS = 1000
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
RAN_AT_ONCE = "ran at once: it needed no approval"


def _status(ticket: Ticket) -> tuple[str, str]:
    if withdrawn(ticket):
        return "cancelled", f"withdrawn by {ticket.principal}: {ticket.denial_reason}"
    return {
        State.PENDING: ("working", "waiting for approval: " + "; ".join(ticket.awaiting())),
        State.APPROVED: ("working", "approved; about to run"),
        State.EXECUTING: ("working", "running"),
        State.EXECUTED: ("completed", "ran after approval"),
        State.FAILED: ("failed", f"approved, but the call failed: {ticket.error}"),
        State.DENIED: ("failed", f"denied by {ticket.denied_by}: {ticket.denial_reason}"),
        State.EXPIRED: ("failed", "expired without a decision"),
    }[ticket.state]


def _updated_at(ticket: Ticket) -> str:
    return max([ticket.created_at, *(approval.at for approval in ticket.approvals)])


def task_of(ticket: Ticket) -> dict[str, Any]:
    """The 2025-11-25 `Task`."""
    status, message = _status(ticket)
    return {
        "taskId": ticket.id,
        "status": status,
        "statusMessage": message,
        "createdAt": ticket.created_at,
        "lastUpdatedAt": _updated_at(ticket),
        "ttl": None,
        "pollInterval": POLL_MS,
    }


def detailed_task(ticket: Ticket, refusal: Callable[[Ticket], dict[str, Any]]) -> dict[str, Any]:
    """The 2026-07-28 `DetailedTask`. A denied or expired call is `completed` with the refusal the
    agent would get without a task (an `isError` result naming who denied it and why): nothing
    failed at the JSON-RPC level. A call that ran and failed is `failed` with the error."""
    status, message = _status(ticket)
    task: dict[str, Any] = {
        "taskId": ticket.id,
        "status": status,
        "statusMessage": message,
        "createdAt": ticket.created_at,
        "lastUpdatedAt": _updated_at(ticket),
        "ttlMs": None,
        "pollIntervalMs": POLL_MS,
    }
    if ticket.state is State.EXECUTED and ticket.result is not None:
        task["result"] = ticket.result
    elif ticket.state in (State.DENIED, State.EXPIRED) and status != "cancelled":
        task |= {"status": "completed", "result": refusal(ticket)}
    elif ticket.state is State.FAILED:
        task["error"] = {"code": -32603, "message": ticket.error or "the approved call failed"}
    return task


def created_task(ticket: Ticket) -> dict[str, Any]:
    """The 2026-07-28 `CreateTaskResult` for a held call: the seed task, no result yet."""
    task = detailed_task(ticket, lambda _: {})
    return {"resultType": "task", **{k: v for k, v in task.items() if k not in ("result", "error")}}


def ran_at_once(task_id: str, created_at: str) -> dict[str, Any]:
    """The 2025-11-25 `Task` of a call that was not held: completed when it was created."""
    return {
        "taskId": task_id,
        "status": "completed",
        "statusMessage": RAN_AT_ONCE,
        "createdAt": created_at,
        "lastUpdatedAt": created_at,
        "ttl": None,
        "pollInterval": POLL_MS,
    }
