"""Bearer tokens: of agents (`TokenTable`, `BearerAuth` on the MCP endpoint) and of people
(`ApproverTokens`: the REST API and the `rollgate approvals` commands).

Tokens are declared in configuration only as SHA-256 hashes; a token is hashed and looked up,
compared in constant time. A request without a valid agent token is answered 401 before it reaches
the MCP layer, unless the configuration explicitly allows anonymous access (conformance runs,
local demos). A person's token is never an agent's: an agent's token is refused (403) where a
person must act, so the identity that asked for a call can never approve it.

This module imports neither the MCP SDK nor Starlette, so the CLI checks a token without them.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.config import AuthConfig, Config, hash_token
from gateway.models import Principal

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send


def _lookup(by_hash: Mapping[str, Principal], token: str) -> Principal | None:
    digest = hash_token(token)
    for known, principal in by_hash.items():
        if hmac.compare_digest(known, digest):
            return principal
    return None


class TokenTable:
    """The agents' tokens."""

    def __init__(self, config: Config) -> None:
        self._by_hash = {agent.token_sha256: Principal(agent.id, frozenset(agent.roles)) for agent in config.agents}

    def principal_for(self, token: str) -> Principal | None:
        return _lookup(self._by_hash, token)


class ApproverTokens:
    """The people's tokens (`[[approvers]]`): approvers, and operators who roll back or quarantine."""

    def __init__(self, config: Config) -> None:
        self._approvers = {a.token_sha256: Principal(a.id, frozenset(a.roles)) for a in config.approvers}
        self._agents = TokenTable(config)

    def resolve(self, header: str | None) -> Principal | int:
        """The person an `Authorization` header names, or the HTTP status to answer: 401 no or an
        unknown token, 403 an agent's token."""
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 401
        person = _lookup(self._approvers, token.strip())
        if person is not None:
            return person
        return 403 if self._agents.principal_for(token.strip()) is not None else 401

    def agent(self, header: str | None) -> Principal | None:
        """The agent whose token an `Authorization` header carries, if it is an agent's (to record
        who tried an operator's action)."""
        scheme, _, token = (header or "").partition(" ")
        return self._agents.principal_for(token.strip()) if scheme.lower() == "bearer" and token.strip() else None


class BearerAuth:
    """Pure ASGI middleware: resolve the principal, or answer 401."""

    def __init__(self, app: ASGIApp, tokens: TokenTable, auth: AuthConfig) -> None:
        from gateway.server.handlers import PRINCIPAL_SCOPE_KEY  # here: importing this module loads no MCP

        self._scope_key = PRINCIPAL_SCOPE_KEY
        self._app = app
        self._tokens = tokens
        self._anonymous = Principal("anonymous", frozenset(auth.anonymous_roles)) if auth.allow_anonymous else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        principal = self._authenticate(scope)
        if principal is None:
            await _unauthorized(send)
            return
        scope[self._scope_key] = principal
        await self._app(scope, receive, send)

    def _authenticate(self, scope: Scope) -> Principal | None:
        header = dict(scope["headers"]).get(b"authorization")
        if header is None:
            return self._anonymous
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._tokens.principal_for(token.strip())


async def _unauthorized(send: Send) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": "missing or invalid bearer token"}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="rollgate"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
