"""The internals `gateway/_sdk.py` relies on (MCP SDK, anyio, asyncio, uvicorn) are still there:
a release that moves them fails here, by name, before any end-to-end test fails obscurely."""

from __future__ import annotations

import inspect
import re
from typing import Any, get_type_hints

import pytest
from mcp.server.session import ServerSession
from mcp.shared.dispatcher import CallOptions
from mcp_types import methods

from gateway._sdk import send_client_request, unguessable_request_id


def test_the_dispatcher_takes_a_callers_request_id() -> None:
    assert "request_id" in get_type_hints(CallOptions)


def test_a_server_session_holds_the_two_channels_send_request_uses() -> None:
    source = inspect.getsource(ServerSession.send_request)
    assert "self._request_outbound" in source and "self._connection.outbound" in source
    assert "validate_client_result" in source and callable(methods.validate_client_result)
    assert inspect.iscoroutinefunction(send_client_request)


def test_request_ids_are_unguessable_and_distinct() -> None:
    ids = {unguessable_request_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(re.fullmatch(r"rollgate-[0-9a-f]{24}", i) for i in ids)


def test_the_sdks_stdio_spawn_and_shutdown_are_still_there_with_their_signatures() -> None:
    import mcp.client.stdio as stdio

    expected = {
        "_create_platform_compatible_process": ["command", "args", "env", "errlog", "cwd"],
        "_stop_server_process": ["process"],
        "_drain_stdout": ["process"],
        "_get_executable_command": ["command"],
    }
    for name, parameters in expected.items():
        function = getattr(stdio, name)
        assert inspect.iscoroutinefunction(function), name
        assert list(inspect.signature(function).parameters) == parameters, name


def test_the_sdks_trace_injection_and_the_private_session_parts_are_still_there() -> None:
    from mcp.client.session import ClientSession
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.shared._otel import inject_trace_context

    assert list(inspect.signature(inject_trace_context).parameters) == ["meta"]
    # A session's `_stamp(data, opts)` is an attribute set per negotiated revision.
    assert "self._stamp: Callable[[dict[str, Any], CallOptions], None]" in inspect.getsource(ClientSession.__init__)
    assert "_connection" in inspect.getsource(ServerSession.__init__)
    assert "self._server_instances" in inspect.getsource(StreamableHTTPSessionManager)


def test_anyio_asyncio_and_uvicorn_parts_are_still_there() -> None:
    import asyncio

    import uvicorn
    from anyio._backends._asyncio import Process
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from gateway._sdk import running_loop

    assert "_process" in inspect.getsource(Process)
    assert asyncio._get_running_loop() is None and running_loop() is None  # no loop in this thread
    assert "_captured_signals" in inspect.getsource(uvicorn.Server)
    assert callable(HttpToolsProtocol.connection_made) and "self.transport" in inspect.getsource(HttpToolsProtocol)


def test_the_servers_result_shaping_and_middleware_chain_are_still_there() -> None:
    import dataclasses

    from mcp.server.lowlevel.server import Server
    from mcp.server.runner import ServerRunner

    from gateway._sdk import result_shaper

    assert list(inspect.signature(ServerRunner._serialize).parameters) == ["self", "method", "version", "result"]
    assert "self.server" in inspect.getsource(ServerRunner._serialize)
    result = {"content": [{"type": "text", "text": "hi"}], "resultType": "complete", "task": {"of": "2025"}}
    shaped = result_shaper(Server("seam"))("tools/call", "2026-07-28", result)
    assert "task" not in shaped  # sieved for the revision
    assert shaped["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "seam"
    # The request-state boundary reads method and params of the context and `replace`s it.
    source = inspect.getsource(__import__("mcp.server.request_state", fromlist=["x"]).RequestStateBoundary)
    assert "replace(ctx, params=" in source and dataclasses.is_dataclass(
        __import__("gateway.server.stateless", fromlist=["x"]).StatelessContext
    )


@pytest.mark.anyio
async def test_the_middleware_chain_runs_outermost_first_around_the_handler() -> None:
    from gateway._sdk import through_middleware

    seen: list[str] = []

    def layer(name: str) -> Any:
        async def middleware(ctx: Any, call_next: Any) -> Any:
            seen.append(name)
            return await call_next(ctx)

        return middleware

    class _Server:
        middleware = [layer("outer"), layer("inner")]

    async def handler(ctx: Any) -> dict[str, Any]:
        seen.append(f"handler {ctx}")
        return {"ok": True}

    assert await through_middleware(_Server(), "ctx", handler) == {"ok": True}
    assert seen == ["outer", "inner", "handler ctx"]
