"""The fast path for `tools/call` on an established streamable HTTP session.

Profiling showed the SDK's HTTP server machinery (per-request streams, task spawns, an SSE
response for every POST, pydantic validation and per-revision re-serialisation) costing about
2 ms of CPU per call, more than everything else on the path together. For the one request that
matters, `tools/call` on a session the gateway already knows, this layer answers directly:
it reads the JSON-RPC payload once, runs the same pipeline, and writes the upstream's result
through untouched. The response is plain JSON when the call produced no interim messages, and an
SSE stream as soon as the first progress, log or server-to-client request appears, so nothing the
upstream sends during a call is lost. Every other request (initialize, listings, GET streams,
DELETE, other revisions) goes to the SDK unchanged, with its body replayed.

The client's answers to server-to-client requests sent here (sampling, elicitation, roots) and
its `notifications/cancelled` for calls running here are picked up here too.

Such a stream can be resumed: it opens with a priming event (id `fp-<stream>-0`, empty data and
the `retry` to wait before reconnecting; SEP-1699), every later event carries an id
(`fp-<stream>-<n>`), the call goes on if the client's connection drops, and a GET with
`Last-Event-ID` from the same session and principal replays what the client missed and then
carries the rest of the stream, the result included.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import mcp_types as types
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import jsonwire
from gateway._sdk import unguessable_request_id
from gateway.errors import CallError
from gateway.models import Principal
from gateway.pipeline import Call, Result
from gateway.server.calls import WORKFLOW_HEADER, as_mcp_error, build_call
from gateway.server.handlers import PRINCIPAL_SCOPE_KEY
from gateway.server.sessions import KnownSession, SessionTable

logger = logging.getLogger(__name__)

_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"
_LAST_EVENT_HEADER = b"last-event-id"
_WORKFLOW_HEADER = WORKFLOW_HEADER.encode()
_EVENT_PREFIX = "fp-"
_RESUMABLE_STREAMS = 256
"""Streams (running or finished) kept for resumption, newest last."""
_stream_ids = itertools.count(1)
REQUEST_CANCELLED = -32800
"""Answer to a call the client cancelled: the POST still needs a response to end (JSON-RPC has no code)."""


class FastToolCalls:
    def __init__(
        self,
        app: ASGIApp,
        dispatch: Callable[[Call], Awaitable[Result]],
        sessions: SessionTable,
        security: TransportSecuritySettings,
        max_body: int,
        max_depth: int = 64,
        *,
        retry_ms: int = 1000,
    ) -> None:
        self._max_depth = max_depth
        self._retry_ms = retry_ms
        self._app = app
        self._dispatch = dispatch
        self._sessions = sessions
        self._security = TransportSecurityMiddleware(security)
        self._max_body = max_body
        self._streams: OrderedDict[str, _ResponseChannel] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (resumed := self._stream_to_resume(scope)) is not None:
            await self._resume(*resumed, scope, receive, send)
            return
        session = self._session_for(scope)
        if session is None:
            await self._app(scope, receive, send)
            return
        body = await _read_body(receive, self._max_body)
        if body is None:
            await _too_large(send)
            return
        if await self._security.validate_request(Request(scope), is_post=True) is not None:
            await self._app(scope, _replay(body, receive), send)  # the SDK answers with the reason
            return
        try:
            message = jsonwire.loads(body)
        except ValueError:
            message = None
        handled = isinstance(message, dict) and await self._try(session, message, scope, send)
        if not handled:
            await self._app(scope, _replay(body, receive), send)

    def _stream_to_resume(self, scope: Scope) -> tuple[_ResponseChannel | None, int, str] | None:
        """(the stream or None if it is gone, events already received, session id) for a GET
        resuming a fast-path stream; None for any other request."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        headers = dict(scope["headers"])
        last = headers.get(_LAST_EVENT_HEADER, b"").decode("latin-1")
        if not last.startswith(_EVENT_PREFIX):
            return None
        stream, _, seen = last.rpartition("-")
        channel = self._streams.get(stream)
        count = int(seen) if seen.isascii() and seen.isdigit() else 0
        return channel, count, headers.get(_SESSION_HEADER, b"").decode("latin-1")

    async def _resume(
        self, channel: _ResponseChannel | None, seen: int, session_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if await self._security.validate_request(Request(scope), is_post=False) is not None:
            await self._app(scope, receive, send)  # the SDK answers with the reason
            return
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        if (
            channel is None
            or channel.session_id != session_id
            or principal is None
            or principal.id != channel.session.principal.id
        ):
            body = _dumps(_error(None, types.INVALID_REQUEST, "no such stream to resume (it ended long ago?)"))
            await send(
                {"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await channel.resume(send, seen)

    def _remember(self, channel: _ResponseChannel) -> None:
        self._streams[channel.stream_id] = channel
        while len(self._streams) > _RESUMABLE_STREAMS:
            self._streams.popitem(last=False)

    def _session_for(self, scope: Scope) -> KnownSession | None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        session_id = version = accept = None
        for key, value in scope["headers"]:
            if key == _SESSION_HEADER:
                session_id = value
            elif key == _VERSION_HEADER:
                version = value
            elif key == b"accept":
                accept = value
        if session_id is None or accept is None or b"text/event-stream" not in accept:
            return None
        if version is not None and version.decode("latin-1") not in HANDSHAKE_PROTOCOL_VERSIONS:
            return None
        return self._sessions.get(session_id.decode("latin-1"))

    async def _try(self, session: KnownSession, message: dict[str, Any], scope: Scope, send: Send) -> bool:
        """Answer here what is well-formed JSON-RPC 2.0 of the kinds this path serves; anything
        else goes to the SDK, which answers it (errors included) as on any other path."""
        if message.get("jsonrpc") != "2.0":
            return False
        method = message.get("method")
        params = message.get("params")
        if params is not None and not isinstance(params, dict):
            return False
        if method == "tools/call" and _valid_id(message.get("id")):
            principal = scope.get(PRINCIPAL_SCOPE_KEY)
            if principal is None or principal.id != session.principal.id:
                return False  # the SDK path answers (and refuses) mismatched principals
            await self._call(session, message, principal, send, scope)
            return True
        if method is None and isinstance(message.get("id"), str) and message["id"] in session.pending:
            if ("result" in message) == ("error" in message):
                return False
            await session.pending.pop(message["id"]).send(message)
            await _accepted(send)
            return True
        if method == "notifications/cancelled" and "id" not in message:
            request_id = (params or {}).get("requestId")
            scope_to_cancel = session.running.get(request_id) if _valid_id(request_id) else None
            if scope_to_cancel is not None:
                scope_to_cancel.cancel()
                await _accepted(send)
                return True
        return False

    async def _call(
        self, session: KnownSession, message: dict[str, Any], principal: Principal, send: Send, scope: Scope
    ) -> None:
        request_id = message["id"]
        session_id = next((v.decode("latin-1") for k, v in scope["headers"] if k == _SESSION_HEADER), None)
        channel = _ResponseChannel(send, session, session_id, self._remember, self._retry_ms)
        response: dict[str, Any] | None = None
        try:
            params = message.get("params")
            meta = params.get("_meta") if isinstance(params, dict) else None
            channel.progress_token = meta.get("progressToken") if isinstance(meta, dict) else None
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == _WORKFLOW_HEADER), None)
            call = build_call(
                params,
                principal,
                session.links,
                channel.progress,
                session_id,
                header_workflow=header or None,
                max_depth=self._max_depth,
            )
            if session.can_elicit:
                call.ask_user = channel.request
            with anyio.CancelScope() as cancel, session.relay.in_channel(channel):
                session.running[request_id] = cancel
                result = await self._dispatch(call)
                response = {"jsonrpc": "2.0", "id": request_id, "result": result}
        except (CallError, MCPError) as exc:
            error = (exc if isinstance(exc, MCPError) else as_mcp_error(exc)).error
            response = _error(request_id, error.code, error.message, error.data)
        except Exception:  # top of a request: log, fail closed, keep serving
            logger.exception("tools/call failed inside the gateway")
            response = _error(
                request_id, types.INTERNAL_ERROR, "internal error in the gateway; the call was not completed"
            )
        finally:
            session.running.pop(request_id, None)
        if response is None:  # cancelled by the client: nothing to answer
            response = _error(request_id, REQUEST_CANCELLED, "request cancelled")
        await channel.finish(response)


class _ResponseChannel:
    """One POST's response: JSON if nothing came before the result, else an SSE stream whose
    events are kept, so that a client that lost the stream can resume it."""

    def __init__(
        self,
        send: Send,
        session: KnownSession,
        session_id: str | None,
        remember: Callable[[_ResponseChannel], None],
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
            if self._finished is None:  # the first event: the answer becomes a stream
                self._finished = anyio.Event()
                self.stream_id = f"{_EVENT_PREFIX}{next(_stream_ids)}"
                self._remember(self)
                await self._send(_SSE_START)
                await self._send({"type": "http.response.body", "body": self._priming(), "more_body": True})
            await self._send({"type": "http.response.body", "body": self._record(payload), "more_body": True})

    def _priming(self) -> bytes:
        """The stream's first event (SEP-1699): an id to resume from before anything else came
        (event 0: a resume from it replays every event), empty data, and when to reconnect."""
        return b"id: %s-0\nretry: %d\ndata:\n\n" % (self.stream_id.encode(), self._retry_ms)

    def _record(self, payload: dict[str, Any]) -> bytes:
        self._events.append(
            b"id: %s-%d\nevent: message\ndata: %s\n\n"
            % (self.stream_id.encode(), len(self._events) + 1, _dumps(payload))
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
            if self._finished is not None:  # streaming
                await self._send({"type": "http.response.body", "body": self._record(response), "more_body": False})
                self._finished.set()
                return
            body = _dumps(response)
            await self._send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await self._send({"type": "http.response.body", "body": body})


_SSE_START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache, no-transform"),
        (b"x-accel-buffering", b"no"),
    ],
}


def _valid_id(value: Any) -> bool:
    """A JSON-RPC request id as MCP allows it: a string or an integer (never null or a bool)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _dumps(payload: Any) -> bytes:
    return jsonwire.dumps(payload)


def _error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


async def _accepted(send: Send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _too_large(send: Send) -> None:
    body = _dumps(_error(None, types.INVALID_REQUEST, "request body too large"))
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it is larger than `limit` or the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return None
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
