"""The downstream MCP server, assembled: the SDK's low-level `Server` with Rollgate's handlers
(`handlers.py`), and, when approvals are on, MCP tasks (`tasks.py`) and sealed `requestState` for
multi-round calls."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.subscriptions import ListenHandler
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from gateway.models import Principal
from gateway.server.handlers import Ctx, Handlers, connection_of
from gateway.server.sessions import SessionTable
from gateway.server.stateless import StatelessContext
from gateway.server.tasks import TASKS_EXTENSION, TaskHandlers, TaskIdParams, UpdateTaskParams
from gateway.server.tasks import capability as tasks_capability

if TYPE_CHECKING:
    from gateway.app import Gateway

__all__ = ["build_server"]


class _GatewayServer(Server[Any]):
    """Advertises list_changed for tools, prompts and resources (upstream changes are relayed), and
    task-augmented tools/call when held calls can be tasks."""

    offers_tasks = False

    def create_initialization_options(
        self, notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        options = notification_options or NotificationOptions(
            prompts_changed=True, resources_changed=True, tools_changed=True
        )
        created = super().create_initialization_options(options, *args, **kwargs)
        if self.offers_tasks:
            extensions = {**(created.capabilities.extensions or {}), TASKS_EXTENSION: {}}
            created.capabilities = created.capabilities.model_copy(
                update={"tasks": tasks_capability(), "extensions": extensions}
            )
        return created


def build_server(gateway: Gateway, sessions: SessionTable | None = None) -> Server[Any]:
    """The MCP server over `gateway`; `sessions` is where the HTTP listener's fast path finds the
    sessions the SDK path served (a transport without one keeps its own)."""
    handlers = Handlers(gateway, SessionTable() if sessions is None else sessions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # logging/setLevel is deprecated at 2026-07-28, not before
        server = _GatewayServer(
            "rollgate",
            version=gateway.version,
            instructions="Rollgate policy gateway: tools of several MCP servers behind one policy.",
            on_list_tools=handlers.list_tools,
            on_call_tool=handlers.call_tool,
            on_list_prompts=handlers.list_prompts,
            on_get_prompt=handlers.get_prompt,
            on_list_resources=handlers.list_resources,
            on_list_resource_templates=handlers.list_resource_templates,
            on_read_resource=handlers.read_resource,
            on_subscribe_resource=handlers.subscribe,
            on_unsubscribe_resource=handlers.unsubscribe,
            on_completion=handlers.complete,
            on_set_logging_level=handlers.set_logging_level,
            on_subscriptions_listen=ListenHandler(gateway.events),  # 2026-07-28: list changes
        )
    server.middleware = []  # see below: no per-request OpenTelemetry span
    if gateway.approvals is not None:
        # requestState of multi-round calls (end-user approval on 2026-07-28) is sealed and bound
        # to the call, its arguments and the principal, so a client cannot forge an answer.
        # The key lives in this process only: after a restart the client is asked again.
        security = RequestStateSecurity(
            keys=[os.urandom(32)],
            ttl=gateway.config.approvals.ttl_seconds,
            bind_principal=lambda ctx: _principal_of(ctx, handlers).id,
        )
        server.middleware.append(RequestStateBoundary(security, default_audience="rollgate"))
        server.middleware.append(_TaskAugmentedCalls(handlers))
        tasks = TaskHandlers(gateway.approvals, gateway.config.approvals.wait_seconds, handlers.principal)
        server.add_request_handler("tasks/get", TaskIdParams, tasks.get)
        server.add_request_handler("tasks/result", TaskIdParams, tasks.result)
        server.add_request_handler("tasks/cancel", TaskIdParams, tasks.cancel)
        server.add_request_handler("tasks/update", UpdateTaskParams, tasks.update)
        server.offers_tasks = True
    # The SDK wraps every request in an OpenTelemetry span by default; with no tracer configured
    # that is pure per-call cost (about 10% of the gateway's CPU per call when profiled).
    return server


def _principal_of(ctx: Any, handlers: Handlers) -> Principal:
    """The principal a request's `requestState` is bound to, on the SDK path or the fast path
    (whose context carries it), so a state minted on one path opens on the other."""
    return ctx.principal if isinstance(ctx, StatelessContext) else handlers.principal(ctx)


class _TaskAugmentedCalls:
    """A 2025-11-25 `tools/call` with `params.task` answers `CreateTaskResult`, which the SDK's
    per-revision result check (tools/call → CallToolResult only) would reject; answered here,
    before it. (2026-07-28 task results carry `resultType: "task"`, which the SDK leaves alone.)"""

    def __init__(self, handlers: Handlers) -> None:
        self._handlers = handlers

    async def __call__(self, ctx: Ctx, call_next: Any) -> Any:
        params = ctx.params
        if ctx.method != "tools/call" or not isinstance(params, Mapping) or "task" not in params:
            return await call_next(ctx)
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return await call_next(ctx)  # `params.task` is not of this revision
        if not connection_of(ctx).initialized.is_set():
            return await call_next(ctx)  # the SDK's pre-initialisation gate answers
        try:
            typed = types.CallToolRequestParams.model_validate(params, by_name=False)
        except ValidationError:
            return await call_next(ctx)  # the SDK answers invalid params as usual
        return await self._handlers.call_tool(ctx, typed)
