"""MCP tasks (2025-11-25) for held calls: a client that asks for a task gets one at once.

A `tools/call` carrying `params.task` whose decision needs approval is answered immediately with
`CreateTaskResult`, the task id being the approval id. `tasks/get` reports the ticket as a task
(`working` until it ran, then `completed` or `failed`); `tasks/result` answers the call's real
result once it ran (waiting a bounded while before that), or the refusal when it was denied.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.task import task_of
from gateway.approvals.ticket import State, Ticket
from gateway.pipeline.approve import answer


class TaskHandlers:
    def __init__(self, approvals: ApprovalQueue | None, wait_seconds: float) -> None:
        self._approvals = approvals
        self._wait = wait_seconds

    def _ticket(self, ctx: Any, task_id: str) -> Ticket:
        ticket = self._approvals.store.get(task_id) if self._approvals is not None else None
        if ticket is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"no task {task_id!r}")
        return ticket

    async def get(self, ctx: Any, params: types.GetTaskRequestParams) -> dict[str, Any]:
        return task_of(self._ticket(ctx, params.task_id))

    async def result(self, ctx: Any, params: types.GetTaskPayloadRequestParams) -> dict[str, Any]:
        ticket = self._ticket(ctx, params.task_id)
        if ticket.state not in (State.EXECUTED, State.FAILED, State.DENIED, State.EXPIRED):
            assert self._approvals is not None

            async def tick(elapsed: float) -> None:
                return None

            ticket = await self._approvals.wait(ticket.id, self._wait, tick)
        return answer(ticket)


def capability() -> types.ServerTasksCapability:
    return types.ServerTasksCapability(
        requests=types.ServerTasksRequestsCapability(tools=types.TasksToolsCapability(call=types.TasksCallCapability()))
    )
