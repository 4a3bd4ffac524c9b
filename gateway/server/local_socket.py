"""The owner's Unix socket: each connection is one stdio session of the configured stdio principal.

A connection carries newline-delimited JSON-RPC exactly as `rollgate stdio` reads it from its
client, and the SDK's server answers it as it answers stdio (`stdio_server` over the socket), so
a forwarded client is served exactly like a local one. There is no way to name a principal on this
socket: every session is `auth.stdio_principal`, as a `rollgate stdio` launched by the same user
would be, never `anonymous` and never an agent of the HTTP listener; sessions, workflows and tasks
stay confined to that principal (the pipeline's `Confine`, ledgered refusals). The socket is
reachable only by the owner's OS user (0600 in a 0700 directory), and where the kernel says who
connected (SO_PEERCRED) a peer of another uid is closed unanswered.

One request is not MCP: `rollgate/handover`, from a `serve` that wants to own the state
directory; a stdio owner agrees and closes in order, a `serve` refuses.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute, SocketListener, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp.server.stdio import stdio_server

from gateway.server.build import build_server
from gateway.server.ownership import HANDOVER_METHOD

if TYPE_CHECKING:
    from gateway.app import Gateway

logger = logging.getLogger(__name__)

MAX_LINE = 64 * 1024 * 1024
"""The longest JSON-RPC message either side of the socket reads."""

Handover = Callable[[], None]


async def serve_socket(
    gateway: Gateway,
    sock: socket.socket,
    handover: Handover | None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve MCP sessions on `sock` until cancelled. `handover` is how a stdio owner gives way to
    `serve`; None (a serve) refuses handovers."""
    server = build_server(gateway)
    options = server.create_initialization_options()
    listener = await SocketListener.from_socket(sock)

    async def session(stream: SocketStream) -> None:
        try:
            async with stream:
                await _session(stream, server, options, handover)
        except Exception:  # top of a connection's task: log, close this connection only
            logger.exception("local socket session failed")

    async with listener:
        task_status.started()
        await listener.serve(session)


@asynccontextmanager
async def serving(gateway: Gateway, sock: socket.socket) -> AsyncIterator[None]:
    """`serve`'s socket for stdio followers, served while the block runs; handovers are refused."""
    async with anyio.create_task_group() as tg:
        await tg.start(serve_socket, gateway, sock, None)
        try:
            yield
        finally:
            tg.cancel_scope.cancel()


async def _session(stream: SocketStream, server: Any, options: Any, handover: Handover | None) -> None:
    uid = peer_uid(stream)
    if uid is not None and uid != os.getuid():
        logger.warning("refused a local socket connection of uid %d (the gateway runs as %d)", uid, os.getuid())
        return
    reader = BufferedByteReceiveStream(stream)
    try:
        first = await reader.receive_until(b"\n", MAX_LINE)
    except (anyio.EndOfStream, anyio.IncompleteRead, anyio.DelimiterNotFound, anyio.BrokenResourceError):
        return
    if HANDOVER_METHOD.encode() in first and _method_of(first) == HANDOVER_METHOD:
        await _answer_handover(stream, first, handover)
        return
    lines = _Lines(reader, first)
    async with stdio_server(stdin=lines, stdout=_Sink(stream)) as (read, write):  # type: ignore[arg-type]
        await server.run(read, write, options)


async def _answer_handover(stream: SocketStream, line: bytes, handover: Handover | None) -> None:
    request_id = json.loads(line).get("id")
    if handover is None:
        owner = f"another process (rollgate serve, pid {os.getpid()}) owns this state directory"
        error = {"code": -32600, "message": f"{owner}; one serve per state directory"}
        await stream.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode() + b"\n")
        return
    logger.info("handing the state directory over to rollgate serve")
    await stream.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "result": {}}).encode() + b"\n")
    handover()


def _method_of(line: bytes) -> object:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message.get("method") if isinstance(message, dict) else None


def peer_uid(stream: SocketStream) -> int | None:
    """The uid of the connected process (Linux SO_PEERCRED); None where the kernel does not say."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    raw: socket.socket = stream.extra(SocketAttribute.raw_socket)
    credentials = raw.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


class _Lines:
    """The connection's lines as text, for the SDK's stdio reader (the first one already read)."""

    def __init__(self, reader: BufferedByteReceiveStream, first: bytes) -> None:
        self._reader = reader
        self._first: bytes | None = first

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        if self._first is not None:
            line, self._first = self._first, None
        else:
            try:
                line = await self._reader.receive_until(b"\n", MAX_LINE)
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                raise StopAsyncIteration from None
        return line.decode("utf-8", errors="replace")


class _Sink:
    """The SDK's stdio writer's file, written to the connection."""

    def __init__(self, stream: SocketStream) -> None:
        self._stream = stream

    async def write(self, text: str) -> None:
        # A follower that went away: its session ends when its lines do.
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._stream.send(text.encode())

    async def flush(self) -> None:
        return None
