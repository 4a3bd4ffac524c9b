"""MCP tasks for held calls, in both eras.

2025-11-25 (core `tasks` capability): a `tools/call` carrying `params.task` is answered at once
with `CreateTaskResult`. A held call's task is its approval ticket; a call that was not held runs
at once and its task is stored completed. `tasks/get`, `tasks/result` and `tasks/cancel` follow.

2026-07-28 (`io.modelcontextprotocol/tasks` extension): a client that declares the extension in
its per-request capabilities gets `resultType: "task"` for a held call; `tasks/get` returns the
`DetailedTask` (the result inline once the call ran), `tasks/cancel` withdraws the request and
`tasks/update` is acknowledged (these tasks never ask the client for input).

Only the principal that made the call may read or cancel its task; to anyone else it does not
exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ConfigDict, Field

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.task import TASKS_EXTENSION, detailed_task, ran_at_once, task_of
from gateway.approvals.ticket import FINAL, Ticket
from gateway.errors import ApprovalError
from gateway.models import Principal
from gateway.pipeline.approve import answer

__all__ = ["TASKS_EXTENSION", "TaskHandlers", "capability"]


class TaskIdParams(types.RequestParams):
    """`tasks/get`, `tasks/cancel` (both eras)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")
    task_id: str = Field(alias="taskId")


class UpdateTaskParams(TaskIdParams):
    """`tasks/update` (2026-07-28 extension)."""

    input_responses: dict[str, Any] = Field(default_factory=dict, alias="inputResponses")


@dataclass(frozen=True, slots=True)
class _RanAtOnce:
    """A 2025-11-25 task of a call that was not held (stored completed by the as-task stage)."""

    task_id: str
    created_at: str
    result: dict[str, Any]


class TaskHandlers:
    def __init__(self, approvals: ApprovalQueue, wait_seconds: float, principal_of: Callable[[Any], Principal]) -> None:
        self._approvals = approvals
        self._wait = wait_seconds
        self._principal_of = principal_of

    def _task(self, ctx: Any, task_id: str) -> Ticket | _RanAtOnce:
        """The caller's ticket, or its 2025-11-25 task that ran at once; a task that is unknown, or
        not the caller's, or of the other era, is -32602."""
        ticket = self._approvals.store.get(task_id)
        if ticket is not None and ticket.principal == self._principal_of(ctx).id:
            return ticket
        stored = self._approvals.store.call_task(task_id) if ticket is None and not _modern(ctx) else None
        if stored is not None and stored[0] == self._principal_of(ctx).id:
            return _RanAtOnce(task_id, stored[1], stored[2])
        raise MCPError(code=types.INVALID_PARAMS, message=f"no task {task_id!r}")

    async def get(self, ctx: Any, params: TaskIdParams) -> dict[str, Any]:
        task = self._task(ctx, params.task_id)
        if isinstance(task, _RanAtOnce):
            return ran_at_once(task.task_id, task.created_at)
        if _modern(ctx):
            return {"resultType": "complete", **detailed_task(task, answer)}
        return task_of(task)

    async def result(self, ctx: Any, params: TaskIdParams) -> dict[str, Any]:
        """`tasks/result` (2025-11-25): the call's result, waiting a bounded while for it."""
        task = self._task(ctx, params.task_id)
        if isinstance(task, _RanAtOnce):
            return task.result
        if task.state not in FINAL:

            async def tick(elapsed: float) -> None:
                return None

            task = await self._approvals.wait(task.id, self._wait, tick)
        return answer(task)

    async def cancel(self, ctx: Any, params: TaskIdParams) -> dict[str, Any]:
        ticket = self._task(ctx, params.task_id)
        modern = _modern(ctx)
        if isinstance(ticket, _RanAtOnce):  # nothing left to cancel
            raise MCPError(code=types.INVALID_PARAMS, message=f"task {params.task_id!r} has already completed")
        try:
            ticket = self._approvals.withdraw(ticket.id, self._principal_of(ctx), "cancelled by the agent")
        except ApprovalError as exc:
            if not modern:  # 2025-11-25: cancelling a task in a terminal state is an error
                raise MCPError(code=types.INVALID_PARAMS, message=str(exc)) from None
        return {"resultType": "complete"} if modern else task_of(ticket)

    async def update(self, ctx: Any, params: UpdateTaskParams) -> dict[str, Any]:
        """These tasks never ask the client for input: responses are ignored, as the extension
        says of responses to keys that are not outstanding."""
        self._task(ctx, params.task_id)
        return {"resultType": "complete"}


def _modern(ctx: Any) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def capability() -> types.ServerTasksCapability:
    return types.ServerTasksCapability(
        cancel=types.TasksCancelCapability(),
        requests=types.ServerTasksRequestsCapability(
            tools=types.TasksToolsCapability(call=types.TasksCallCapability())
        ),
    )
