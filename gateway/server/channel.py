"""One fast-path POST's response, for either era (see `fastpath.py`).

Both answer plain JSON when nothing came before the result, and turn into an SSE stream at the
first interim message. A handshake-era stream can be resumed: it opens with a priming event and
numbers its events. A 2026-07-28 stream is framed as the SDK's single-exchange entry frames it
(`mcp.server._streamable_http_modern`): no event ids (nothing outlives the request), a comment
ping after each quiet interval so a proxy does not close it, and an error answered as JSON
carries the HTTP status the spec maps its code to.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS
from starlette.types import Message, Receive, Send

from gateway import jsonwire
from gateway._sdk import unguessable_request_id
from gateway.server.sessions import KnownSession

__all__ = ["EVENT_PREFIX", "ResponseChannel", "Spawn", "StatelessChannel", "error_response"]

EVENT_PREFIX = "fp-"
_stream_ids = itertools.count(1)
_SSE_PING_SECONDS = 15.0
"""Quiet seconds before a 2026-07-28 response commits to SSE and between pings (the SDK's)."""
_WATCH_AFTER_SECONDS = 0.25

Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], object]
"""Starts a task in a task group that outlives the request (the gateway's)."""


def error_response(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


class ResponseChannel:
    """A handshake-era POST's response: JSON if nothing came before the result, else an SSE
    stream whose events are kept, so that a client that lost the stream can resume it."""

    def __init__(
        self,
        send: Send,
        session: KnownSession | None,
        session_id: str | None,
        remember: Callable[[ResponseChannel], None],
        retry_ms: int = 1000,
    ) -> None:
        self._send = send
        self._retry_ms = retry_ms
        self.session = session
        self.session_id = session_id
        self._remember = remember
        # fast_acquire: an uncontended acquire does not yield to the loop (an extra loop pass per call)
        self._lock = anyio.Lock(fast_acquire=True)
        self.progress_token: Any = None
        self.stream_id = ""
        self._events: list[bytes] = []
        self._finished: anyio.Event | None = None
        """Made when the answer becomes a stream; set once it is complete (a resuming GET waits for it)."""
        self._answered = False

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.notify("notifications/progress", params)

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None:
        payload: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            payload["params"] = params
        await self._event(payload)

    async def request(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        assert self.session is not None  # only a handshake session's calls ask the client
        request_id = unguessable_request_id()  # only this client can answer it
        sender, receiver = anyio.create_memory_object_stream[dict[str, Any]](1)
        self.session.pending[request_id] = sender
        payload: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            payload["params"] = params
        try:
            await self._event(payload)
            async with receiver:
                answer = await receiver.receive()
        finally:
            self.session.pending.pop(request_id, None)
        if "error" in answer:
            error = answer["error"]
            raise MCPError(code=error.get("code", types.INTERNAL_ERROR), message=error.get("message", ""))
        return answer.get("result") or {}

    async def _event(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            await self._open_stream()
            await self._send({"type": "http.response.body", "body": self._record(payload), "more_body": True})

    async def _open_stream(self) -> None:
        """At the first event, the answer becomes a stream (called under the lock)."""
        if self._finished is not None:
            return
        self._finished = anyio.Event()
        self.stream_id = f"{EVENT_PREFIX}{next(_stream_ids)}"
        self._remember(self)
        await self._send(_SSE_START)
        await self._send({"type": "http.response.body", "body": self._priming(), "more_body": True})

    def _priming(self) -> bytes:
        """The stream's first event (SEP-1699): an id to resume from before anything else came
        (event 0: a resume from it replays every event), empty data, and when to reconnect."""
        return b"id: %s-0\nretry: %d\ndata:\n\n" % (self.stream_id.encode(), self._retry_ms)

    def _record(self, payload: dict[str, Any]) -> bytes:
        self._events.append(
            b"id: %s-%d\nevent: message\ndata: %s\n\n"
            % (self.stream_id.encode(), len(self._events) + 1, jsonwire.dumps(payload))
        )
        return self._events[-1]

    async def resume(self, send: Send, seen: int) -> None:
        """Carry this stream on `send` (a GET with Last-Event-ID) from the event after `seen`."""
        async with self._lock:
            self._send = send
            await send(_SSE_START)
            missed = b"".join(self._events[seen:])
            finished = self._finished
            assert finished is not None  # only streamed channels are remembered, hence resumable
            await send({"type": "http.response.body", "body": missed, "more_body": not finished.is_set()})
        await finished.wait()

    async def finish(self, response: dict[str, Any]) -> None:
        async with self._lock:
            self._answered = True
            if self._finished is not None:  # streaming
                await self._send({"type": "http.response.body", "body": self._record(response), "more_body": False})
                self._finished.set()
                return
            body = jsonwire.dumps(response)
            await self._send(
                {
                    "type": "http.response.start",
                    "status": self._status(response),
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await self._send({"type": "http.response.body", "body": body})

    def _status(self, response: dict[str, Any]) -> int:
        return 200


class StatelessChannel(ResponseChannel):
    """A 2026-07-28 POST's response: nothing outlives the request, so nothing is kept."""

    def __init__(self, send: Send) -> None:
        super().__init__(send, None, None, lambda channel: None)

    async def _open_stream(self) -> None:
        if self._finished is None:
            self._finished = anyio.Event()
            await self._send(_STATELESS_SSE_START)

    def _record(self, payload: dict[str, Any]) -> bytes:
        return b"event: message\r\ndata: %s\r\n\r\n" % jsonwire.dumps(payload)

    def _status(self, response: dict[str, Any]) -> int:
        error = response.get("error")
        return ERROR_CODE_HTTP_STATUS.get(error["code"], 200) if isinstance(error, dict) else 200

    def watch(self, receive: Receive, call: anyio.CancelScope, spawn: Spawn) -> Callable[[], None]:
        """Cancel `call` when the client closes the connection, and keep a quiet stream alive,
        as the SDK's entry does; returns what stops watching. Starting a task for this costs more
        than the rest of the fast path together, so it starts only for a call still running after
        `_WATCH_AFTER_SECONDS` (a call the client drops before then is cancelled then)."""
        stopped = anyio.CancelScope()
        started = False

        async def guard() -> None:
            nonlocal started
            started = True
            with stopped:
                quiet = _SSE_PING_SECONDS - _WATCH_AFTER_SECONDS
                while not self._answered:
                    with anyio.move_on_after(quiet):
                        if (await receive())["type"] == "http.disconnect":
                            call.cancel()
                            return
                        continue
                    await self._ping()
                    quiet = _SSE_PING_SECONDS

        timer = asyncio.get_running_loop().call_later(_WATCH_AFTER_SECONDS, spawn, guard)

        def stop() -> None:
            timer.cancel()
            if started:  # cancelling formats the task's repr: not on every call
                stopped.cancel()

        return stop

    async def _ping(self) -> None:
        """Commit to SSE if not yet, and send a comment line (the SDK's keep-alive)."""
        async with self._lock:
            if not self._answered:
                await self._open_stream()
                await self._send({"type": "http.response.body", "body": b": ping\r\n\r\n", "more_body": True})


_SSE_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"x-accel-buffering", b"no"),
    ],
}
_STATELESS_SSE_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"connection", b"keep-alive"),
        (b"x-accel-buffering", b"no"),
    ],
}
