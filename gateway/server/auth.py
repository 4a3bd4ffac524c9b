"""Bearer-token authentication of agents on the HTTP transport.

Tokens are declared in configuration only as SHA-256 hashes; a request's token is hashed and
looked up. A request without a valid token is answered 401 before it reaches the MCP layer,
unless the configuration explicitly allows anonymous access (conformance runs, local demos).
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import AuthConfig, Config, hash_token
from gateway.models import Principal
from gateway.server.handlers import PRINCIPAL_SCOPE_KEY


class TokenTable:
    def __init__(self, config: Config) -> None:
        self._by_hash = {agent.token_sha256: Principal(agent.id, frozenset(agent.roles)) for agent in config.agents}

    def principal_for(self, token: str) -> Principal | None:
        digest = hash_token(token)
        for known, principal in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return principal
        return None


class BearerAuth:
    """Pure ASGI middleware: resolve the principal, or answer 401."""

    def __init__(self, app: ASGIApp, tokens: TokenTable, auth: AuthConfig) -> None:
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
        scope[PRINCIPAL_SCOPE_KEY] = principal
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
