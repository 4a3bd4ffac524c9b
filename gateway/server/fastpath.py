"""The fast path for `tools/call` over streamable HTTP, in both eras.

Profiling showed the SDK's HTTP server machinery (per-request streams, task spawns, an SSE
response for every POST, pydantic validation and per-revision re-serialisation) costing about
2 ms of CPU per call, more than everything else on the path together. For the one request that
matters, `tools/call`, this layer answers directly, on one path for both eras: it reads the
JSON-RPC payload once, builds the call, runs the same pipeline and maps a refusal to its MCP error
(`calls.as_mcp_error`). A call on a known handshake-era (2025-11-25) session gets the upstream's
result untouched; a stateless 2026-07-28 request is first admitted with the SDK's own checks and
its result shaped by the SDK's server (`stateless.py`). The response is plain JSON when the call
produced no interim messages, and an SSE stream as soon as the first progress, log or
server-to-client request appears (`channel.py`), so nothing the upstream sends during a call is
lost. Every other request (initialize, listings, GET streams, DELETE, what the fast path cannot
answer exactly as the SDK would) goes to the SDK unchanged, with its body replayed.

The client's answers to server-to-client requests sent here (sampling, elicitation, roots) and
its `notifications/cancelled` for calls running here are picked up here too; a stateless call is
cancelled when its client closes the connection, as the SDK does.

A handshake-era stream can be resumed: it opens with a priming event (id `fp-<stream>-0`, empty
data and the `retry` to wait before reconnecting; SEP-1699), every later event carries an id
(`fp-<stream>-<n>`), the call goes on if the client's connection drops, and a GET with
`Last-Event-ID` from the same session and principal replays what the client missed and then
carries the rest of the stream, the result included.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import mcp_types as types
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import jsonwire
from gateway.errors import CallError
from gateway.models import Principal
from gateway.pipeline import Call, Result
from gateway.server.calls import TRACE_HEADERS, WORKFLOW_HEADER, as_mcp_error, build_call
from gateway.server.channel import EVENT_PREFIX, ResponseChannel, Spawn, StatelessChannel, error_response
from gateway.server.handlers import PRINCIPAL_SCOPE_KEY
from gateway.server.sessions import KnownSession, SessionTable
from gateway.server.stateless import Envelope, StatelessCalls
from gateway.upstream.pool import LinkSet

logger = logging.getLogger(__name__)

_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"
_LAST_EVENT_HEADER = b"last-event-id"
_WORKFLOW_HEADER = WORKFLOW_HEADER.encode()
_TRACE_HEADERS = tuple(name.encode() for name in TRACE_HEADERS)
_RESUMABLE_STREAMS = 256
"""Streams (running or finished) kept for resumption, newest last."""
REQUEST_CANCELLED = -32800
"""Answer to a call the client cancelled: the POST still needs a response to end (JSON-RPC has no code)."""
_GATEWAY_FAILED = "internal error in the gateway; the call was not completed"
_SERVER_FAILED = "Internal server error"
"""What the SDK's 2026-07-28 entry answers for an unexpected exception (`modern_error_data`)."""


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
        stateless: StatelessCalls | None = None,
        spawn: Spawn | None = None,
    ) -> None:
        self._max_depth = max_depth
        self._retry_ms = retry_ms
        self._app = app
        self._dispatch = dispatch
        self._sessions = sessions
        self._stateless = stateless if spawn is not None else None
        self._spawn: Spawn = spawn or (lambda task: None)
        self._security = TransportSecurityMiddleware(security)
        self._max_body = max_body
        self._streams: OrderedDict[str, ResponseChannel] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (resumed := self._stream_to_resume(scope)) is not None:
            await self._resume(*resumed, scope, receive, send)
            return
        session = self._session_for(scope)
        stateless = session is None and self._stateless is not None and self._stateless.takes(scope)
        if session is None and not stateless:
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
        if not isinstance(message, dict):
            handled = False
        elif session is not None:
            handled = await self._try(session, message, scope, send)
        else:
            handled = await self._try_stateless(message, scope, receive, send)
        if not handled:
            await self._app(scope, _replay(body, receive), send)

    def _stream_to_resume(self, scope: Scope) -> tuple[ResponseChannel | None, int, str] | None:
        """(the stream or None if it is gone, events already received, session id) for a GET
        resuming a fast-path stream; None for any other request."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        headers = dict(scope["headers"])
        last = headers.get(_LAST_EVENT_HEADER, b"").decode("latin-1")
        if not last.startswith(EVENT_PREFIX):
            return None
        stream, _, seen = last.rpartition("-")
        channel = self._streams.get(stream)
        count = int(seen) if seen.isascii() and seen.isdigit() else 0
        return channel, count, headers.get(_SESSION_HEADER, b"").decode("latin-1")

    async def _resume(
        self, channel: ResponseChannel | None, seen: int, session_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if await self._security.validate_request(Request(scope), is_post=False) is not None:
            await self._app(scope, receive, send)  # the SDK answers with the reason
            return
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        if (
            channel is None
            or channel.session is None
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

    def _remember(self, channel: ResponseChannel) -> None:
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

    async def _try_stateless(self, message: dict[str, Any], scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer here a 2026-07-28 `tools/call` the SDK would run; anything else goes to it."""
        assert self._stateless is not None
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        if message.get("jsonrpc") != "2.0" or not _valid_id(message.get("id")) or principal is None:
            return False
        envelope = self._stateless.admit(scope, message)
        if envelope is None:
            return False
        channel = StatelessChannel(send)
        with anyio.CancelScope() as call:
            stop_watching = channel.watch(receive, call, self._spawn)
            serving = self._serve_stateless(envelope, message, principal, scope, channel)
            try:
                await self._answer(message, channel, serving)
            finally:
                stop_watching()
        return True

    async def _call(
        self, session: KnownSession, message: dict[str, Any], principal: Principal, send: Send, scope: Scope
    ) -> None:
        request_id = message["id"]
        session_id = next((v.decode("latin-1") for k, v in scope["headers"] if k == _SESSION_HEADER), None)
        channel = ResponseChannel(send, session, session_id, self._remember, self._retry_ms)

        async def serve() -> dict[str, Any] | None:
            call = self._build(message.get("params"), principal, session.links, channel, session_id, scope)
            if session.can_elicit:
                call.ask_user = channel.request
            result: dict[str, Any] | None = None
            with anyio.CancelScope() as cancel, session.relay.in_channel(channel):
                session.running[request_id] = cancel
                try:
                    result = await self._dispatch(call)
                finally:
                    session.running.pop(request_id, None)
            return result  # None: cancelled by the client

        logger.debug("tools/call %s served on the fast path (handshake session)", request_id)
        await self._answer(message, channel, serve(), _GATEWAY_FAILED)

    async def _serve_stateless(
        self, envelope: Envelope, message: dict[str, Any], principal: Principal, scope: Scope, channel: ResponseChannel
    ) -> dict[str, Any]:
        assert self._stateless is not None
        logger.debug("tools/call %s served on the fast path (stateless %s)", message["id"], envelope.version)

        def build(params: Mapping[str, Any] | None, links: LinkSet, default_workflow: Callable[[], str]) -> Call:
            return self._build(params, principal, links, channel, None, scope, default_workflow)

        return await self._stateless.serve(envelope, message["params"], principal, build, self._dispatch)

    def _build(
        self,
        params: Mapping[str, Any] | None,
        principal: Principal,
        links: LinkSet,
        channel: ResponseChannel,
        session_id: str | None,
        scope: Scope,
        default_workflow: Callable[[], str] | None = None,
    ) -> Call:
        channel.progress_token = progress_token_from_params(params)
        header = trace = None
        for key, value in scope["headers"]:
            if key == _WORKFLOW_HEADER:
                header = value.decode("latin-1")
            elif key in _TRACE_HEADERS:
                trace = trace or {}
                trace[key.decode()] = value.decode("latin-1")
        return build_call(
            params,
            principal,
            links,
            channel.progress,
            session_id,
            default_workflow=default_workflow,
            header_workflow=header or None,
            max_depth=self._max_depth,
            trace=trace,
        )

    async def _answer(
        self,
        message: dict[str, Any],
        channel: ResponseChannel,
        serving: Awaitable[dict[str, Any] | None],
        failed: str = _SERVER_FAILED,
    ) -> None:
        """Finish the response with the result, or the refusal mapped to its MCP error."""
        request_id = message["id"]
        try:
            result = await serving
            response = (
                {"jsonrpc": "2.0", "id": request_id, "result": result}
                if result is not None
                else _error(request_id, REQUEST_CANCELLED, "request cancelled")
            )
        except (CallError, MCPError) as exc:
            error = (exc if isinstance(exc, MCPError) else as_mcp_error(exc)).error
            response = _error(request_id, error.code, error.message, error.data)
        except Exception:  # top of a request: log, fail closed, keep serving
            logger.exception("tools/call failed inside the gateway")
            response = _error(request_id, types.INTERNAL_ERROR, failed)
        await channel.finish(response)


def _valid_id(value: Any) -> bool:
    """A JSON-RPC request id as MCP allows it: a string or an integer (never null or a bool)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _dumps(payload: Any) -> bytes:
    return jsonwire.dumps(payload)


_error = error_response


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
