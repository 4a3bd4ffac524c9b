"""The streamable HTTP listener: Host/Origin checks, bearer auth, SSE resumption, keep-alive.

The keep-alive of the listener is longer than any client's own idle expiry (httpx: 5 s), so an
idle connection is always closed by the client first and a session idle for a long time still
works on its next call.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import uvicorn
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway._sdk import clear_captured_signals, manager_sessions
from gateway.app import Gateway
from gateway.config import Config, ServerConfig
from gateway.errors import ConfigError
from gateway.server import local_socket
from gateway.server.auth import ApproverTokens, BearerAuth, TokenTable
from gateway.server.build import build_server
from gateway.server.coalesce import CoalescingHttpTools
from gateway.server.events import MemoryEventStore
from gateway.server.fastpath import FastToolCalls
from gateway.server.ownership import owned_by_serve
from gateway.server.session_guard import SessionGuard
from gateway.server.sessions import SessionTable
from gateway.server.stateless import StatelessCalls
from gateway.web import ApprovalsApi, GuardsApi, StatusApi, WorkflowsApi, http_error, openapi_route, page_routes
from gateway.web.operators import Operators

_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def security_settings(server: ServerConfig) -> TransportSecuritySettings:
    """DNS-rebinding protection is always on: only the configured (default: loopback) Host and Origin."""
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=server.allowed_hosts if server.allowed_hosts is not None else _LOOPBACK_HOSTS,
        allowed_origins=server.allowed_origins if server.allowed_origins is not None else _LOOPBACK_ORIGINS,
    )


def build_app(gateway: Gateway) -> Any:
    config = gateway.config
    sessions = SessionTable()  # the stateful sessions: the SDK path adds them, the fast path serves their calls
    server = build_server(gateway, sessions)
    manager = StreamableHTTPSessionManager(
        app=server,
        event_store=MemoryEventStore(config.server.event_history) if config.server.event_history else None,
        # With an event store, every SSE response opens with a priming event (an id, empty data):
        # this adds the `retry` to it, so a client that loses the stream knows when to resume.
        retry_interval=config.server.sse_retry_milliseconds if config.server.event_history else None,
        security_settings=security_settings(config.server),
        session_idle_timeout=config.server.session_idle_timeout_seconds,
        max_request_body_size=config.server.max_request_bytes,
    )
    security = security_settings(config.server)
    fast = FastToolCalls(
        StreamableHTTPASGIApp(manager),
        gateway.dispatch,
        sessions,
        security,
        config.server.max_request_bytes,
        config.limits.max_json_depth,
        retry_ms=config.server.sse_retry_milliseconds,
        stateless=StatelessCalls(server, lambda: gateway.pool, gateway.current.of),
        spawn=lambda task: gateway.pool.task_group.start_soon(task),
    )
    guard = SessionGuard(fast, manager_has_session(manager), config.limits.max_sessions_per_principal, gateway.refused)
    mcp_endpoint = BearerAuth(guard, TokenTable(config), config.auth)

    async def health(request: Request) -> JSONResponse:
        upstreams = {
            name: {"up": link.last_error is None, "error": link.last_error, "restarts": link.restarts}
            for name, link in gateway.pool.control.items()
        }
        return JSONResponse({"status": "ok", "upstreams": upstreams})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    routes: list[Any] = [Route("/healthz", endpoint=health)]
    if gateway.approvals is not None:
        ledger_store = gateway.ledger.store if gateway.ledger is not None else None
        routes += ApprovalsApi(gateway.approvals, ApproverTokens(config), ledger_store).routes()
        routes += page_routes()
    operators = Operators(ApproverTokens(config), gateway.record)
    routes += WorkflowsApi(gateway.operations, operators, known_agents(config)).routes()
    routes += StatusApi(gateway.status, operators).routes()
    routes += guards_api(gateway).routes()
    routes.append(openapi_route(approvals=gateway.approvals is not None))
    if gateway.observability is not None:
        from gateway.server.metrics_route import metrics_route

        routes.append(metrics_route(gateway.observability))
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    return _McpFirst(config.server.path, mcp_endpoint, app)


def guards_api(gateway: Gateway) -> GuardsApi:
    """The kill switch and tool-definition operations; an agent may be stopped if it is configured,
    is the stdio client, or was ever seen."""
    config = gateway.config
    configured = known_agents(config) | {config.auth.stdio_principal}

    def known(agent: str) -> bool:
        return agent in configured or gateway.saga.principal_known(agent)

    return GuardsApi(
        gateway.stop_switch, gateway.pins, gateway.accept_definition, ApproverTokens(config), known, gateway.record
    )


def known_agents(config: Config) -> frozenset[str]:
    """The principals this listener can authenticate: the configured agents, and `anonymous` if allowed."""
    return frozenset(a.id for a in config.agents) | ({"anonymous"} if config.auth.allow_anonymous else set())


def manager_has_session(manager: StreamableHTTPSessionManager) -> Any:
    """Whether the SDK's manager still serves a session (it closes idle ones itself)."""

    def alive(session_id: str) -> bool:
        return session_id in manager_sessions(manager)

    return alive


class _McpFirst:
    """Sends the MCP endpoint's requests straight to it, past Starlette's router and middleware."""

    def __init__(self, path: str, endpoint: Any, app: Starlette) -> None:
        self._path = path
        self._endpoint = endpoint
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self._path:
            await self._endpoint(scope, receive, send)
        else:
            await self._app(scope, receive, send)


class _Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn re-raises a captured SIGTERM/SIGINT once it has stopped serving, which ends the
        # process before the gateway closes (no `gateway.stop` entry, no final checkpoint). Stop
        # serving as uvicorn does, then let the gateway close and the process exit normally.
        super().handle_exit(sig, frame)
        clear_captured_signals(self)


async def serve_http(config: Config, *, announce: Any = None) -> None:
    """Serve until interrupted. `announce(url)` is called once the socket is listening."""
    gateway = Gateway(config)
    sock = socket.socket(socket.AF_INET6 if ":" in config.server.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((config.server.host, config.server.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"server: cannot listen on {config.server.host}:{config.server.port}: {exc.strerror} "
            "(another gateway running? set [server] port)"
        ) from None
    host, port = sock.getsockname()[:2]
    # `serve` owns the state directory (a stdio owner hands over) and serves stdio followers too.
    async with owned_by_serve(config) as followers, gateway.running(), local_socket.serving(gateway, followers):
        uv_config = uvicorn.Config(
            build_app(gateway),
            timeout_keep_alive=int(config.server.keep_alive_seconds),
            log_level="warning",
            lifespan="on",
            # The C parser (h11 costs several times more CPU per request), writing once per response.
            http=CoalescingHttpTools,
            # Nothing here reads the client's address, so X-Forwarded-* is not trusted from anyone
            # (uvicorn trusts it from 127.0.0.1 by default), and one middleware less per request.
            proxy_headers=False,
        )
        server = _Server(uv_config)
        url = f"http://{host}:{port}{config.server.path}"
        (announce or _print_url)(url)
        await server.serve(sockets=[sock])


def _print_url(url: str) -> None:
    print(f"Rollgate is listening: point MCP clients at {url}", file=sys.stderr, flush=True)
