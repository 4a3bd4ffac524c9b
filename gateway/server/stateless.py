"""A 2026-07-28 (stateless) `tools/call` on the fast path, answered as the SDK answers it.

A stateless request carries its envelope (protocol version, client capabilities, client info)
in `params._meta` and no session. Before the SDK runs one (`mcp.server._streamable_http_modern`,
`handle_modern_request`) it checks the routing headers (`Mcp-Method`, `Mcp-Name`,
`MCP-Protocol-Version`: present once and equal to the body), the envelope, the params against
the revision's schema and any `Mcp-Param-*` header against the tool's input schema; around the
handler its server runs the middleware (the sealed `requestState` of `input_required` rounds)
and shapes the result for the revision (`resultType`, the sieve, the `serverInfo` stamp).

`admit` makes the same checks with the SDK's own functions: a request that passes every one is
served here, anything else (a rejection included) goes to the SDK, which answers it as before.
`serve` runs the call inside the server's middleware and shapes the result with the server's own
serialiser, so the answer is the SDK path's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http import check_accept_headers
from mcp.shared.inbound import (
    MCP_PARAM_HEADER_PREFIX,
    MCP_PROTOCOL_VERSION_HEADER,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp_types.methods import validate_client_request
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Scope

from gateway._sdk import result_shaper, through_middleware
from gateway.errors import CallError
from gateway.models import Principal
from gateway.pipeline import Call, Result
from gateway.pipeline.metatools import META_TOOLS
from gateway.server.calls import as_mcp_error, stateless_round
from gateway.server.revisions import for_revision
from gateway.upstream.gates import declared
from gateway.upstream.pool import LinkSet, UpstreamPool

__all__ = ["Envelope", "StatelessCalls", "StatelessContext"]

_METHOD = "tools/call"
_VERSION_HEADER = MCP_PROTOCOL_VERSION_HEADER.lower().encode()
_SESSION_HEADER = b"mcp-session-id"
_PARAM_PREFIX = MCP_PARAM_HEADER_PREFIX.lower()
_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "method", "params"})


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a stateless request says of its client."""

    version: str
    capabilities: types.ClientCapabilities | None


@dataclass(frozen=True, slots=True)
class StatelessContext:
    """What the server's middleware reads of a request (the fields of the SDK's
    `ServerRequestContext` of the same names), and the principal its `requestState` binds to."""

    method: str
    params: Mapping[str, Any] | None
    protocol_version: str
    principal: Principal


BuildCall = Callable[[Mapping[str, Any] | None, LinkSet, Callable[[], str]], Call]
"""(params, links, default workflow) → the call, as the fast path builds it for either era."""


class StatelessCalls:
    def __init__(
        self, server: Server[Any], pool: Callable[[], UpstreamPool], current_workflow: Callable[[str], str]
    ) -> None:
        self._server = server
        self._pool = pool
        self._current = current_workflow
        self._shape = result_shaper(server)

    def takes(self, scope: Scope) -> bool:
        """A POST the SDK routes to its 2026-07-28 entry (by its first `MCP-Protocol-Version`),
        without a session id, accepting both JSON and SSE as that entry requires."""
        if scope["method"] != "POST":
            return False
        version = next((value for key, value in scope["headers"] if key == _VERSION_HEADER), None)
        if version is None or version.decode("latin-1") not in MODERN_PROTOCOL_VERSIONS:
            return False
        if any(key == _SESSION_HEADER for key, _ in scope["headers"]):
            return False
        has_json, has_sse = check_accept_headers(Request(scope))
        return has_json and has_sse

    def admit(self, scope: Scope, message: Mapping[str, Any]) -> Envelope | None:
        """The request's envelope if the SDK would run it as the `tools/call` it is; None if
        the SDK would answer otherwise (it then does)."""
        params = message.get("params")
        if not message.keys() <= _ENVELOPE_KEYS or message.get("method") != _METHOD or not isinstance(params, dict):
            return None
        raw = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in scope["headers"]]
        if find_duplicated_routing_header(raw) is not None:
            return None
        verdict = classify_inbound_request(message, headers=dict(reversed(raw)))  # first value wins, as in starlette
        if isinstance(verdict, InboundLadderRejection):
            return None
        try:
            validate_client_request(_METHOD, verdict.protocol_version, params)
        except (ValidationError, KeyError):
            return None
        capabilities = Connection.from_envelope(
            verdict.protocol_version, verdict.client_info, verdict.client_capabilities
        ).client_capabilities
        if not self._headers_match(params, capabilities, raw, scope):
            return None
        return Envelope(verdict.protocol_version, capabilities)

    def _headers_match(
        self,
        params: Mapping[str, Any],
        capabilities: types.ClientCapabilities | None,
        raw: list[tuple[str, str]],
        scope: Scope,
    ) -> bool:
        """`Mcp-Param-*` headers agree with the arguments, as the tool the client was listed declares."""
        arguments = params.get("arguments") or {}
        if not arguments and not any(key.startswith(_PARAM_PREFIX) for key, _ in raw):
            return True
        schema = self._input_schema(params["name"], capabilities)
        return schema is None or validate_mcp_param_headers(schema, arguments, Headers(scope=scope)) is None

    def _input_schema(self, name: str, capabilities: types.ClientCapabilities | None) -> Any:
        """The tool's input schema as this client's `tools/list` gives it (upstream tools first)."""
        resolved = self._pool().catalog.resolve_tool(name, declared(capabilities))
        if resolved is not None:
            return resolved[1].input_schema
        meta_tool = META_TOOLS.get(name)
        return meta_tool.input_schema if meta_tool is not None else None

    async def serve(
        self,
        envelope: Envelope,
        params: Mapping[str, Any],
        principal: Principal,
        build: BuildCall,
        dispatch: Callable[[Call], Awaitable[Result]],
    ) -> dict[str, Any]:
        """The call's result as the SDK's server puts it on the wire; its refusal as MCPError."""
        version = envelope.version

        async def handler(ctx: StatelessContext) -> dict[str, Any]:
            try:
                call = build(ctx.params, self._pool().shared, lambda: self._current(principal.id))
                stateless_round(call, envelope.capabilities, ctx.params)
                result = for_revision(_METHOD, version, await dispatch(call))
            except CallError as exc:
                raise as_mcp_error(exc) from None
            return self._shape(_METHOD, version, result)

        context = StatelessContext(_METHOD, params, version, principal)
        answer = await through_middleware(self._server, context, handler)
        if isinstance(answer, BaseModel):  # a middleware that answers itself may answer a model
            return answer.model_dump(by_alias=True, mode="json", exclude_none=True)
        return dict(answer)
