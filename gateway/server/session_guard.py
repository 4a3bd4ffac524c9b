"""Every request on a streamable HTTP session comes from the principal that opened it.

A session is bound to the principal of the request that created it (the `Mcp-Session-Id` of its
answer). Any later request naming that session, whatever its method (POST of a call, a
notification or a response to a server-to-client request, GET of a stream, DELETE), is refused
with 403 and ledgered unless its principal is the same, so one agent can never end, listen to,
cancel in, or answer for another agent's session. New sessions of a principal past
`limits.max_sessions_per_principal` are refused with 429.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.models import Principal
from gateway.server.handlers import PRINCIPAL_SCOPE_KEY

_SESSION_HEADER = b"mcp-session-id"
_VERSION_HEADER = b"mcp-protocol-version"

Refused = Callable[[dict[str, Any]], Awaitable[None]]
"""Records a refusal in the ledger."""


class SessionGuard:
    def __init__(self, app: ASGIApp, alive: Callable[[str], bool], max_sessions: int, refused: Refused) -> None:
        self._app = app
        self._alive = alive
        self._max = max_sessions
        self._refused = refused
        self._owners: dict[str, str] = {}
        self._by_principal: dict[str, set[str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get(PRINCIPAL_SCOPE_KEY)
        if scope["type"] != "http" or principal is None:
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        session = headers.get(_SESSION_HEADER)
        if session is not None:
            owner = self._owners.get(session.decode("latin-1"))
            if owner is not None and owner != principal.id:
                await self._refuse(scope, send, principal, session.decode("latin-1"))
                return
            await self._app(scope, receive, send)
            return
        if scope["method"] == "POST" and _VERSION_HEADER not in headers and self._live(principal.id) >= self._max:
            await _answer(
                send,
                429,
                f"principal {principal.id} has {self._max} open sessions (limits.max_sessions_per_principal); "
                "end one with DELETE or wait until an idle one is closed",
            )
            return
        await self._app(scope, receive, self._binding(send, principal.id))

    def _binding(self, send: Send, principal: str) -> Send:
        async def bound(message: Message) -> None:
            if message["type"] == "http.response.start":
                for key, value in message.get("headers", []):
                    if key.lower() == _SESSION_HEADER:
                        session = value.decode("latin-1")
                        self._owners.setdefault(session, principal)
                        self._by_principal.setdefault(principal, set()).add(session)
            await send(message)

        return bound

    def _live(self, principal: str) -> int:
        sessions = self._by_principal.get(principal, set())
        for gone in [s for s in sessions if not self._alive(s)]:
            sessions.discard(gone)
            self._owners.pop(gone, None)
        return len(sessions)

    async def _refuse(self, scope: Scope, send: Send, principal: Principal, session: str) -> None:
        reason = f"this session belongs to another principal; {principal.id} cannot use it"
        await self._refused({"principal": principal.id, "method": scope["method"], "session": session, "error": reason})
        await _answer(send, 403, reason)


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
