"""A bare JSON-RPC client for the bench, to take the client's own cost out of the comparison.

The SDK client spends about 1.2 ms of CPU per `tools/call` over streamable HTTP (0.75 ms of it
in httpx) against 0.4 ms over stdio, and at 32 calls in flight that client, one process on a
two-core machine, is what limits the HTTP columns. This one speaks just enough of MCP
(revision 2025-06-18: initialize, tools/list, tools/call) for the bench: newline-delimited JSON
over stdio, or one HTTP/1.1 POST per message on keep-alive connections (one per call in flight),
parsed with httptools and accepting a JSON or an SSE answer (streamable HTTP, spec §2.2).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import httptools
from anyio.abc import ByteStream, Process
from anyio.streams.buffered import BufferedByteReceiveStream

PROTOCOL_VERSION = "2025-06-18"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_INITIALIZE = {
    "protocolVersion": PROTOCOL_VERSION,
    "capabilities": {},
    "clientInfo": {"name": "rollgate-bench-raw", "version": "0"},
}


class RawProtocolError(Exception):
    """The server answered something this client does not expect."""


def _tool_error(result: dict[str, Any]) -> str | None:
    if not result.get("isError"):
        return None
    return " ".join(str(part.get("text", "")) for part in result.get("content", []))[:300] or "isError"


def _result_of(message: dict[str, Any]) -> dict[str, Any]:
    if "error" in message:
        raise RawProtocolError(f"JSON-RPC error {message['error']}")
    result: dict[str, Any] = message["result"]
    return result


class RawStdioSession:
    """JSON-RPC over a server's stdin/stdout; a reader task matches answers to calls by id."""

    def __init__(self, process: Process, stdout: BufferedByteReceiveStream) -> None:
        self._process = process
        self._stdout = stdout
        self._next_id = 0
        self._waiting: dict[int, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._write = anyio.Lock()

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        done, slot = anyio.Event(), list[dict[str, Any]]()
        self._waiting[ident] = (done, slot)
        await self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        await done.wait()
        return _result_of(slot[0])

    async def tool_names(self) -> list[str]:
        return [tool["name"] for tool in (await self.request("tools/list", {}))["tools"]]

    async def call(self, name: str, arguments: dict[str, Any]) -> str | None:
        return _tool_error(await self.request("tools/call", {"name": name, "arguments": arguments}))

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        async with self._write:
            await self._process.stdin.send(json.dumps(message).encode() + b"\n")

    async def read_answers(self) -> None:
        while True:
            message = json.loads(await self._stdout.receive_until(b"\n", MAX_MESSAGE_BYTES))
            waiting = self._waiting.pop(message.get("id"), None)
            if waiting is not None:  # requests and notifications from the server are not answered
                waiting[1].append(message)
                waiting[0].set()


@asynccontextmanager
async def raw_stdio_session(command: list[str]) -> AsyncIterator[RawStdioSession]:
    async with await anyio.open_process(command, stderr=None, start_new_session=True) as process:
        assert process.stdout is not None and process.stdin is not None
        session = RawStdioSession(process, BufferedByteReceiveStream(process.stdout))
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(session.read_answers)
                await session.request("initialize", _INITIALIZE)
                await session._send({"jsonrpc": "2.0", "method": "notifications/initialized"})
                yield session
                tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await process.stdin.aclose()  # the server's cue to exit (MCP stdio transport, shutdown)
                with anyio.move_on_after(2):
                    await process.wait()
                if process.returncode is None:
                    process.kill()


class _Answer:
    """httptools callbacks for one HTTP response."""

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.body = bytearray()
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


class RawHttpSession:
    """Streamable HTTP, one POST per message; a call takes an idle connection or opens one."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str]) -> None:
        self._address = (host, port)
        self._path = path
        self._headers = {"Host": f"{host}:{port}", "Accept": "application/json, text/event-stream",
                         "Content-Type": "application/json", **headers}  # fmt: skip
        self._idle: list[ByteStream] = []
        self._open: list[ByteStream] = []
        self._next_id = 0

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        answer = await self.post(message)
        text = bytes(answer.body)
        if answer.headers.get(b"content-type", b"").startswith(b"text/event-stream"):
            text = next(
                (line[5:] for line in text.splitlines() if line.startswith(b"data:") and b'"id"' in line), b"null"
            )
        return _result_of(json.loads(text))

    async def tool_names(self) -> list[str]:
        return [tool["name"] for tool in (await self.request("tools/list", {}))["tools"]]

    async def call(self, name: str, arguments: dict[str, Any]) -> str | None:
        return _tool_error(await self.request("tools/call", {"name": name, "arguments": arguments}))

    async def post(self, message: dict[str, Any], method: str = "POST") -> _Answer:
        body = json.dumps(message).encode() if method == "POST" else b""
        head = f"{method} {self._path} HTTP/1.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in self._headers.items())
        request = head.encode() + b"\r\n" + body
        if self._idle:
            stream = self._idle.pop()
            try:
                return await self._exchange(stream, request)
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                # The server closed the idle connection (keep-alive expiry) before reading; retry once.
                await self._discard(stream)
        return await self._exchange(await self._connect(), request)

    async def _exchange(self, stream: ByteStream, request: bytes) -> _Answer:
        await stream.send(request)
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        while not answer.complete:
            parser.feed_data(await stream.receive())
        # Not `parser.should_keep_alive()`: llhttp resets it once the message is complete.
        if parser.get_http_version() == "1.1" and answer.headers.get(b"connection", b"").lower() != b"close":
            self._idle.append(stream)
        else:
            await self._discard(stream)
        if parser.get_status_code() >= 300:
            raise RawProtocolError(f"HTTP {parser.get_status_code()}: {bytes(answer.body)[:200]!r}")
        return answer

    async def _discard(self, stream: ByteStream) -> None:
        self._open.remove(stream)
        await stream.aclose()

    async def _connect(self) -> ByteStream:
        stream = await anyio.connect_tcp(*self._address)
        self._open.append(stream)
        return stream

    async def start(self) -> None:
        answer = await self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": _INITIALIZE})
        if (session_id := answer.headers.get(b"mcp-session-id")) is not None:
            self._headers["Mcp-Session-Id"] = session_id.decode()
        self._headers["MCP-Protocol-Version"] = PROTOCOL_VERSION
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def close(self) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            # Ending the session is a courtesy: the server is stopped after the bench anyway.
            if "Mcp-Session-Id" in self._headers:
                with suppress(OSError, anyio.EndOfStream, anyio.BrokenResourceError, RawProtocolError):
                    await self.post({}, method="DELETE")
            for stream in self._open:
                await stream.aclose()


@asynccontextmanager
async def raw_http_session(url: str, headers: dict[str, str]) -> AsyncIterator[RawHttpSession]:
    parsed = httptools.parse_url(url.encode())
    session = RawHttpSession(parsed.host.decode(), parsed.port or 80, parsed.path.decode(), headers)
    try:
        await session.start()
        yield session
    finally:
        await session.close()
