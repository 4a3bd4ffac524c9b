"""Where Rollgate reaches past the public surface of its dependencies: each reach is here, named,
with why it is needed and what would let it go, and tested (`tests/unit/test_sdk_seam.py`), so
a new release that moves one breaks this module and its test, not the gateway obscurely.
`pyproject.toml` pins the MCP SDK's minor version for the same reason.

MCP SDK (`mcp` 2.3):
- `send_client_request`: a session's server-to-client requests under unguessable ids (the SDK
  numbers them 1, 2, 3). Goes when `ServerSession.send_request` takes a request id.
- `connection_of`: the per-client `Connection` (its `state` and `exit_stack`) a session keeps
  private; the one place to hang per-session upstream links. Goes when the request context
  exposes it.
- `stamp`: the request envelope a stateless (2026-07-28) client puts on every request, which
  `ClientSession` applies only to its own typed requests. Goes when raw requests are stamped too.
- `manager_sessions`: whether the streamable-HTTP manager still serves a session (it closes idle
  ones itself). Goes when the manager can be asked.
- `create_process`, `stop_process`, `drain_stdout`, `executable_command`: the SDK's own spawn and
  shutdown of a stdio server (a new process group, stdin-close, wait, terminate-tree), so a server
  behind the raw wire starts and stops as one behind `stdio_client` does. Goes when `stdio_client`
  hands out its process.
- `inject_trace_context`: the SDK's SEP-414 trace propagation, for raw requests.
- `result_shaper`: the SDK server's shaping of a handler's result for the wire (`ServerRunner.
  _serialize`: cache hints, the per-revision sieve, `resultType`, the `serverInfo` stamp), so a
  2026-07-28 call on the fast path is answered byte for byte as on the SDK path. Goes when the
  SDK exposes it.
- `through_middleware`: the server's middleware chain (`Server.middleware`: the `requestState`
  boundary, task-augmented calls) around the fast path's own request context, which carries what
  the chain reads (`method`, `params`, `protocol_version`; `dataclasses.replace` on it) and no SDK
  session. Goes when the SDK can run its chain for a request it did not parse.

anyio 4: `raw_stdin_writer`: the asyncio writer under anyio's `Process.stdin` (anyio's `send`
yields to the loop after every write: one more loop pass per call). Without it, `send` is used.

asyncio: `running_loop`: the running loop or None, without raising (`asyncio._get_running_loop`),
on the ledger's hot path where a thread without a loop may call.

uvicorn: `clear_captured_signals`: uvicorn re-raises a captured SIGTERM once it has stopped
serving, which ends the process before the gateway closes; the gateway stops as uvicorn does and
then exits itself. `gateway/server/coalesce.py` also subclasses uvicorn's `HttpToolsProtocol`
(its `connection_made` and `transport`), tested here as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.session import ServerSession

# Nothing of a dependency is imported at module level: the ledger (and so `rollgate ledger
# verify`) uses `running_loop`, and must not load the MCP SDK to start.

__all__ = [
    "clear_captured_signals",
    "connection_of",
    "create_process",
    "drain_stdout",
    "executable_command",
    "inject_trace_context",
    "manager_sessions",
    "raw_stdin_writer",
    "running_loop",
    "send_client_request",
    "result_shaper",
    "stamp",
    "stop_process",
    "through_middleware",
    "unguessable_request_id",
]


def unguessable_request_id() -> str:
    """An id for a server-to-client request that no other client can guess and answer."""
    return f"rollgate-{secrets.token_hex(12)}"


async def send_client_request(
    session: ServerSession, method: str, params: Mapping[str, Any] | None, *, request_scoped: bool
) -> dict[str, Any]:
    """`ServerSession.send_request`, under an unguessable id instead of the dispatcher's counter.

    The SDK numbers a session's server-to-client requests 1, 2, 3...: an agent able to post on
    another's session (the session guard refuses it; this is the second wall) could answer that
    session's elicitation by guessing the id. The dispatcher takes a caller's id through
    `CallOptions["request_id"]`, but `send_request` passes none, so the channel is taken here the
    way `send_request` takes it, and the result is checked the way it checks it.
    """
    from mcp_types import methods

    channel = session._request_outbound if request_scoped else session._connection.outbound
    options: Any = {"request_id": unguessable_request_id()}
    result = await channel.send_raw_request(method, params, options)
    with contextlib.suppress(KeyError):  # a method the SDK has no result type for: passed on as it came
        methods.validate_client_result(method, session.protocol_version, result)
    return result


async def create_process(**kwargs: Any) -> Any:
    """`mcp.client.stdio`'s spawn of a stdio server (its own process group, platform quirks)."""
    from mcp.client.stdio import _create_platform_compatible_process  # pyright: ignore[reportPrivateUsage]

    return await _create_platform_compatible_process(**kwargs)


async def stop_process(process: Any) -> None:
    """`mcp.client.stdio`'s shutdown of a stdio server: stdin closed, a wait, then the tree terminated."""
    from mcp.client.stdio import _stop_server_process  # pyright: ignore[reportPrivateUsage]

    await _stop_server_process(process)


async def drain_stdout(process: Any) -> None:
    """`mcp.client.stdio`'s read-and-discard of what a stopping server still writes."""
    from mcp.client.stdio import _drain_stdout  # pyright: ignore[reportPrivateUsage]

    await _drain_stdout(process)


async def executable_command(command: str) -> str:
    """`mcp.client.stdio`'s resolution of a server's command (Windows' `.cmd` shims)."""
    from mcp.client.stdio import _get_executable_command  # pyright: ignore[reportPrivateUsage]

    return await _get_executable_command(command)


def inject_trace_context(meta: dict[str, Any]) -> None:
    """The SDK's SEP-414 trace context, put into a raw request's `_meta`."""
    from mcp.shared._otel import inject_trace_context as inject  # pyright: ignore[reportPrivateUsage]

    inject(meta)


def result_shaper(server: Any) -> Callable[[str, str, Any], dict[str, Any]]:
    """`shape(method, version, result)`: `result` as `server` puts it on the wire for a client
    speaking `version` (the kernel's `_serialize` reads nothing of it but its server)."""
    from mcp.server.connection import Connection
    from mcp.server.runner import ServerRunner
    from mcp_types.version import LATEST_MODERN_VERSION

    runner = ServerRunner(server, Connection.from_envelope(LATEST_MODERN_VERSION, None, None), None)
    shape: Callable[[str, str, Any], dict[str, Any]] = runner._serialize  # pyright: ignore[reportPrivateUsage]
    return shape


async def through_middleware(server: Any, ctx: Any, inner: Callable[[Any], Awaitable[Any]]) -> Any:
    """`inner(ctx)` inside `server.middleware`, outermost first, as the SDK's kernel runs a handler."""
    call = inner
    for middleware in reversed(server.middleware):
        call = _bound(middleware, call)
    return await call(ctx)


def _bound(middleware: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    def call(ctx: Any) -> Awaitable[Any]:
        return middleware(ctx, call_next)  # type: ignore[no-any-return]

    return call


def connection_of(session: Any) -> Any:
    """The SDK's per-client `Connection` of a server session (`state`, `exit_stack`)."""
    return session._connection  # pyright: ignore[reportPrivateUsage]


def stamp(session: Any, data: dict[str, Any], options: Any) -> None:
    """Put a client session's request envelope on `data` (`method`, `params`), headers in `options`."""
    session._stamp(data, options)  # pyright: ignore[reportPrivateUsage]


def manager_sessions(manager: Any) -> Mapping[str, Any]:
    """The sessions a `StreamableHTTPSessionManager` serves now, by session id."""
    sessions: Mapping[str, Any] = manager._server_instances  # pyright: ignore[reportPrivateUsage]
    return sessions


def raw_stdin_writer(process: Any) -> asyncio.StreamWriter | None:
    """The asyncio writer under an anyio `Process`'s stdin, or None (another backend)."""
    writer = getattr(getattr(process, "_process", None), "stdin", None)
    return writer if isinstance(writer, asyncio.StreamWriter) else None


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop of this thread, or None."""
    return asyncio._get_running_loop()


def clear_captured_signals(server: Any) -> None:
    """Forget the signals a `uvicorn.Server` captured, so it does not re-raise them at exit."""
    server._captured_signals.clear()  # pyright: ignore[reportPrivateUsage]
