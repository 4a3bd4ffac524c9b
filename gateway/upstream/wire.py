"""A stdio upstream's pipes, shared by the SDK client session and a raw JSON-RPC path for calls.

Profiling the gateway under load showed the SDK's stdio client costing more CPU per forwarded
call than any pipeline stage: each request is built as a pydantic model and re-serialised, each
answer is parsed into one, and both hop through two memory streams and two pipe tasks. The
gateway forwards payloads it has already validated and returns the upstream's result untouched,
so none of that is needed for its own requests.

`stdio_wire` starts the server process the way the SDK's `stdio_client` does and hands the SDK
the same pair of streams, so the session (handshake, listings, list_changed, sampling,
elicitation, roots, logging, answers to the server's requests) works as before. Next to it,
`StdioWire.request` writes a request line itself, under an id of its own (`rollgate-<n>`, never
one of the session's integers), and the reader takes the matching answer, and progress carrying
that id as its token, off the pipe before anything is parsed into models. Everything else the
server writes goes to the session as it would have.

Raw requests written in one loop pass leave as one write at its end (a lone request in flight
leaves at once): one system call instead of one a request, and the server finds the lines that
arrived together already buffered. Against the commit before, at 32 calls in flight through the
gateway to the minimal bench server, two A/Bs gave 1.10x and 1.11x the calls/s, with 12% less CPU
a call for gateway and server together (bench/README.md).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TextIO

import anyio
import anyio.lowlevel
import mcp_types as types
from anyio.abc import Process
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

# The SDK's own spawn and shutdown (a new session per server, the spec's stdin-close, wait,
# terminate-tree sequence, bounded), so a server behind the wire starts and stops exactly as
# one behind `stdio_client` does.
from mcp.client.stdio import StdioServerParameters, get_default_environment
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from opentelemetry import baggage as otel_baggage
from opentelemetry import trace as otel_trace
from pydantic import ValidationError

from gateway import jsonwire
from gateway._sdk import (
    create_process,
    drain_stdout,
    executable_command,
    inject_trace_context,
    raw_stdin_writer,
    stop_process,
)
from gateway.errors import NotSent, WireTimeout
from gateway.models import ProgressSink

logger = logging.getLogger(__name__)

_ID_PREFIX = "rollgate-"
_CANCEL_WRITE_TIMEOUT = 1.0
"""A courtesy `notifications/cancelled` that cannot be written within this is given up."""
_WRITER_FLUSH_TIMEOUT = 0.5
_KEEP_LIMIT = 64 * 1024
"""Requests kept for the end of the loop pass leave at once when they reach this many bytes."""


@dataclass(frozen=True, slots=True)
class _Progress:
    progress: float
    total: float | None
    message: str | None


@dataclass(frozen=True, slots=True)
class _Answer:
    """The upstream's response: its `result`, or its `error` object."""

    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


_Event = _Progress | _Answer
_CLOSED = _Answer(error={"code": types.CONNECTION_CLOSED, "message": "Connection closed"})
_TIMED_OUT = _Answer(error={"code": types.REQUEST_TIMEOUT, "message": "no answer in time"})
"""Put by the request's own timer: a loop timer, not a cancel scope, which costs several backend
look-ups on every call."""


class _Inbox:
    """What the reader delivers to one raw request, in order: progress notices, then the answer.

    Not an anyio memory stream: its `receive` always yields to the loop first, one more loop
    pass per call on the hot path."""

    __slots__ = ("_events", "_ready", "closed")

    def __init__(self) -> None:
        self._events: deque[_Event] = deque()
        self._ready: asyncio.Future[None] | None = None
        self.closed = False
        """The caller is gone (answered, cancelled, timed out): later events are dropped."""

    def put(self, event: _Event) -> None:
        if self.closed:
            return
        self._events.append(event)
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    async def get(self) -> _Event:
        # A plain future of the running loop (the gateway runs on asyncio or uvloop): anyio's
        # Event costs a backend look-up per wait. Cancellation (anyio scopes cancel the task)
        # interrupts the await as it would anyio's.
        while not self._events:
            self._ready = asyncio.get_running_loop().create_future()
            try:
                await self._ready
            finally:
                self._ready = None
        return self._events.popleft()


class StdioWire:
    """Raw requests to one stdio upstream, next to its SDK session on the same pipes."""

    def __init__(self, process: Process) -> None:
        self._process = process
        # anyio's send() yields to the loop after every write, one more loop pass per call; the
        # asyncio writer underneath (asyncio backend) takes the line and applies backpressure alike.
        self._writer = raw_stdin_writer(process)
        self._next_id = 0
        self._waiting: dict[str, _Inbox] = {}
        self._kept: list[bytes] = []
        """Requests written in this loop pass, to leave as one write at its end."""
        self._kept_ids: list[str] = []
        self._kept_bytes = 0
        self._closed = False

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        progress: ProgressSink | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its raw result; an error answer raises `MCPError`
        (`CONNECTION_CLOSED` when the server went away), no answer within `timeout` seconds
        raises `WireTimeout`. Progress the server reports for this request reaches `progress`
        in order, before the result is returned."""
        if self._closed:
            raise NotSent(f"{method}: the upstream's connection is closed")
        self._next_id += 1
        request_id = f"{_ID_PREFIX}{self._next_id}"
        message = _request(request_id, method, params, progress is not None)
        inbox = self._waiting[request_id] = _Inbox()
        timer = None if timeout is None else asyncio.get_running_loop().call_later(timeout, inbox.put, _TIMED_OUT)
        try:
            # From here a cancelled write counts as sent: it may still have reached the server.
            try:
                await self._write(message, request_id)
            except MCPError:
                raise NotSent(f"{method}: the upstream's connection closed before it was sent") from None
            while True:
                event = await inbox.get()
                if event is _TIMED_OUT:
                    await self._tell_cancelled(request_id)
                    raise WireTimeout(f"no answer to {method} within {timeout:g}s")
                if isinstance(event, _Answer):
                    return _outcome(event)
                if progress is not None:
                    await progress(event.progress, event.total, event.message)
        except anyio.get_cancelled_exc_class():
            await self._tell_cancelled(request_id)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            self._waiting.pop(request_id, None)
            inbox.closed = True

    async def _tell_cancelled(self, request_id: str) -> None:
        """MCP 2025-06-18, basic/utilities/cancellation: tell the server to stop its work."""
        if not self._closed:
            with anyio.move_on_after(_CANCEL_WRITE_TIMEOUT, shield=True), suppress(MCPError):
                await self._write(_cancelled(request_id))

    async def _write(self, message: bytes, request_id: str | None = None) -> None:
        try:
            if self._writer is None:
                assert self._process.stdin is not None
                await self._process.stdin.send(message)
                return
            if self._writer.is_closing():
                raise BrokenPipeError
            if not self._keep(message, request_id):
                self._writer.write(message)
            await self._writer.drain()  # suspends only while the pipe's buffer is full
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, RuntimeError):
            raise MCPError(code=types.CONNECTION_CLOSED, message="Connection closed") from None

    def _keep(self, message: bytes, request_id: str | None) -> bool:
        """Keep `message` to leave with the others written in this loop pass (at once, with
        them, once they reach `_KEEP_LIMIT`). False, not kept: it is the only request in flight,
        and goes out now (there is nothing to gather, and at one call in flight the ledger
        writes the call's intent on the loop's next pass, once the request is out)."""
        if not self._kept:
            if len(self._waiting) <= 1:
                return False
            asyncio.get_running_loop().call_soon(self._flush)
        self._kept.append(message)
        self._kept_bytes += len(message)
        if request_id is not None:
            self._kept_ids.append(request_id)
        if self._kept_bytes < _KEEP_LIMIT:
            return True
        self._flush()
        return True

    def _flush(self) -> None:
        """Write what is kept, as one write (the loop's end-of-pass callback, or a full keep)."""
        if not self._kept:
            return
        data = b"".join(self._kept)
        ids = self._kept_ids
        self._kept, self._kept_ids, self._kept_bytes = [], [], 0
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)
            return
        for request_id in ids:  # as a write to the closed pipe would have raised for each
            if (waiting := self._waiting.get(request_id)) is not None:
                waiting.put(_CLOSED)

    def take(self, message: Any) -> bool:
        """Deliver `message` (one parsed line) if it is the answer to, or progress of, a raw
        request in flight; False leaves it for the session."""
        if not isinstance(message, dict):
            return False
        if "method" not in message:
            request_id = message.get("id")
            waiting = self._waiting.get(request_id) if isinstance(request_id, str) else None
            if waiting is None:
                return False
            answer = message.get("result")
            error = message.get("error")
            if isinstance(error, dict):
                waiting.put(_Answer(error=error))
            else:
                waiting.put(_Answer(result=answer if isinstance(answer, dict) else {}))
            return True
        if message["method"] == "notifications/progress":
            return self._take_progress(message.get("params"))
        return False

    def _take_progress(self, params: Any) -> bool:
        if not isinstance(params, dict):
            return False
        token = params.get("progressToken")
        waiting = self._waiting.get(token) if isinstance(token, str) else None
        if waiting is None:
            return False
        progress, total, message = params.get("progress"), params.get("total"), params.get("message")
        if isinstance(progress, int | float) and not isinstance(progress, bool):
            total = float(total) if isinstance(total, int | float) and not isinstance(total, bool) else None
            waiting.put(_Progress(float(progress), total, message if isinstance(message, str) else None))
        return True  # a malformed notice for our token is no one else's either

    def close(self) -> None:
        """The server is gone: every raw request in flight fails with CONNECTION_CLOSED."""
        self._closed = True
        for waiting in list(self._waiting.values()):
            waiting.put(_CLOSED)


def _request(request_id: str, method: str, params: Mapping[str, Any] | None, wants_progress: bool) -> bytes:
    out = dict(params) if params is not None else {}
    meta = dict(out.get("_meta") or {})
    if wants_progress:
        meta["progressToken"] = request_id  # the id is the token: the reader finds the call by either
    if _has_trace_context():
        inject_trace_context(meta)  # SEP-414, as the SDK's client does for its own requests
    if meta:
        out["_meta"] = meta
    else:
        out.pop("_meta", None)
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if out:
        message["params"] = out
    return _line(message)


def _has_trace_context() -> bool:
    """Whether a propagator has anything to inject: a valid span, or baggage (checked first,
    it is a fraction of the cost of an inject that writes nothing)."""
    return otel_trace.get_current_span().get_span_context().is_valid or bool(otel_baggage.get_all())


def _cancelled(request_id: str) -> bytes:
    return _line(
        {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": request_id, "reason": "the gateway's caller cancelled the call"},
        }
    )


def _line(message: dict[str, Any]) -> bytes:
    # stdio transport (MCP basic/transports): one JSON message per line, no embedded newlines,
    # which a compact JSON writer guarantees (it escapes control characters inside strings).
    return jsonwire.dumps(message) + b"\n"


def _outcome(answer: _Answer) -> dict[str, Any]:
    if answer.error is not None:
        error = answer.error
        code = error.get("code")
        raise MCPError(
            code=code if isinstance(code, int) else types.INTERNAL_ERROR,
            message=str(error.get("message", "")),
            data=error.get("data"),
        )
    assert answer.result is not None
    return answer.result


def _for_session(parsed: Any, line: bytes) -> SessionMessage | Exception:
    """The session's message, as the SDK's reader would have parsed it (from the line when it is
    not JSON, so that the error says why)."""
    adapter = types.jsonrpc_message_adapter
    try:
        if parsed is None:
            return SessionMessage(adapter.validate_json(line, by_name=False))
        return SessionMessage(adapter.validate_python(parsed, by_name=False))
    except (ValueError, ValidationError) as exc:
        logger.exception("Failed to parse JSONRPC message from server")
        return exc


@asynccontextmanager
async def stdio_wire(
    server: StdioServerParameters, errlog: TextIO = sys.stderr
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage], StdioWire]
]:
    """Start the server; yield the session's (read, write) streams and the wire beside them."""
    command = await executable_command(server.command)
    process = await create_process(
        command=command,
        args=server.args,
        env=get_default_environment() | (server.env or {}),
        errlog=errlog,
        cwd=server.cwd,
    )
    assert isinstance(process, Process)  # POSIX: the gateway's stdio upstreams run there
    # No awaits until the task group is entered: a cancellation in the gap would leak the process.
    to_session, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, from_session = anyio.create_memory_object_stream[SessionMessage](0)
    wire = StdioWire(process)
    writer_done = anyio.Event()

    async def read_stdout() -> None:
        assert process.stdout is not None
        try:
            async with to_session:
                buffer = b""
                try:
                    async for chunk in process.stdout:
                        lines = (buffer + chunk).split(b"\n")
                        buffer = lines.pop()
                        for line in lines:
                            if line.strip() and not await _route(line, wire, to_session):
                                return
                finally:
                    wire.close()
                    await drain_stdout(process)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, ConnectionError):
            pass  # our own shutdown, or the server's end: the session sees the read stream close

    async def write_stdin() -> None:
        assert process.stdin is not None
        try:
            async with from_session:
                async for session_message in from_session:
                    data = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send(data.encode() + b"\n")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await to_session.aclose()  # the session sees the connection end
        finally:
            writer_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_stdout)
        tg.start_soon(write_stdin)
        try:
            yield read_stream, write_stream, wire
        finally:
            with anyio.CancelScope(shield=True):  # every wait below is bounded
                wire.close()
                read_stream.close()
                write_stream.close()
                with anyio.move_on_after(_WRITER_FLUSH_TIMEOUT):
                    await writer_done.wait()
                await stop_process(process)
                for stream in (read_stream, write_stream, to_session, from_session):
                    await stream.aclose()
                await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()


async def _route(line: bytes, wire: StdioWire, to_session: MemoryObjectSendStream[SessionMessage | Exception]) -> bool:
    """One line from the server to its reader: the wire's, else the session's. False once the
    session is gone."""
    try:
        parsed = jsonwire.loads(line)
    except ValueError:
        parsed = None
    if wire.take(parsed):
        return True
    try:
        await to_session.send(_for_session(parsed, line))
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        return False
    return True
