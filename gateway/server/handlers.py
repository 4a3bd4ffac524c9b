"""The downstream MCP server's handlers: Rollgate's face towards agents (assembled in `build.py`).

Built on the SDK's low-level `Server`, one handler per MCP method. `tools/call` goes through the
pipeline; listings come from the aggregated catalogue; prompts, resources and completions are
routed by name or URI to their upstream and forwarded as raw JSON-RPC payloads. Each downstream
session owns its upstream links (see `gateway.upstream.pool`), created on first use and closed
with the session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from gateway._sdk import connection_of as connection_of_session
from gateway.errors import CallError, UpstreamError
from gateway.models import Principal
from gateway.pipeline.metatools import META_TOOLS
from gateway.saga.current import new_workflow_id
from gateway.server.calls import (
    TRACE_HEADERS,
    WORKFLOW_HEADER,
    as_mcp_error,
    build_call,
    can_elicit,
    forwardable_meta,
    stateless_round,
)
from gateway.server.revisions import for_revision
from gateway.server.sessions import KnownSession, SessionTable
from gateway.upstream.catalog import Catalog
from gateway.upstream.gates import declared
from gateway.upstream.pool import LinkSet
from gateway.upstream.relay import DownstreamRelay, SdkCallChannel

if TYPE_CHECKING:
    from gateway.app import Gateway

logger = logging.getLogger(__name__)

PRINCIPAL_SCOPE_KEY = "rollgate.principal"
_LINKS_KEY = "rollgate.links"
_PRINCIPAL_KEY = "rollgate.principal"
_WORKFLOW_KEY = "rollgate.workflow"

Ctx = ServerRequestContext[Any, Any]


def connection_of(ctx: Ctx) -> Connection:
    # The SDK keeps the per-client Connection (its `state` dict and `exit_stack`) on the session;
    # it is the one place to hang per-session upstream links and tear them down with the session.
    return connection_of_session(ctx.session)  # type: ignore[no-any-return]


def _header(ctx: Ctx, name: str) -> str | None:
    request = ctx.request
    headers = getattr(request, "headers", None)
    value = headers.get(name) if headers is not None else None
    return value or None


def for_downstream(ctx: Ctx, method: str, result: dict[str, Any]) -> dict[str, Any]:
    """Adapt an upstream result to the downstream revision (the SDK sieves later-revision fields)."""
    return for_revision(method, ctx.protocol_version, result)


class Handlers:
    def __init__(self, gateway: Gateway, sessions: SessionTable) -> None:
        self.gateway = gateway
        self.sessions = sessions

    # -- sessions ---------------------------------------------------------------------------

    async def _links(self, ctx: Ctx) -> LinkSet:
        connection = connection_of(ctx)
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            # The 2026-07-28 envelope has no session: such requests share the control links.
            return self.gateway.pool.shared
        links: LinkSet | None = connection.state.get(_LINKS_KEY)
        if links is None:
            relay = DownstreamRelay()
            links = LinkSet(
                self.gateway.pool,
                relay,
                owner=self.principal(ctx).id,
                capabilities=declared(ctx.session.client_capabilities),
            )
            connection.state[_LINKS_KEY] = links
            self.gateway.relays.add(relay)
            session_id = connection.session_id
            if session_id is not None:
                self.sessions[session_id] = KnownSession(
                    self.principal(ctx), links, relay, can_elicit=can_elicit(ctx.session.client_capabilities)
                )
            connection.exit_stack.push_async_callback(self._close_links, links, relay, session_id)
        assert isinstance(links.relay, DownstreamRelay)
        links.relay.attach(ctx.session)
        return links

    async def _close_links(self, links: LinkSet, relay: DownstreamRelay, session_id: str | None) -> None:
        self.gateway.relays.discard(relay)
        if session_id is not None:
            self.sessions.pop(session_id, None)
        await links.aclose()

    def principal(self, ctx: Ctx) -> Principal:
        connection = connection_of(ctx)
        request = ctx.request
        principal: Principal | None = None
        if request is not None and hasattr(request, "scope"):
            principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if principal is None:
            principal = self.gateway.stdio_principal
        bound: Principal | None = connection.state.setdefault(_PRINCIPAL_KEY, principal)
        if bound is not None and bound.id != principal.id:
            raise MCPError(code=types.INVALID_REQUEST, message="this session belongs to another principal")
        return principal

    def _session_key(self, ctx: Ctx) -> str | None:
        """The MCP session id, or a stable id for a handshake session that has none (stdio);
        None for a request without a session (2026-07-28), which joins its principal's current
        workflow."""
        connection = connection_of(ctx)
        if connection.session_id:
            return connection.session_id
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return None
        workflow: str = connection.state.setdefault(_WORKFLOW_KEY, new_workflow_id())
        return workflow

    # -- tools -----------------------------------------------------------------------------

    async def _catalog(self) -> Catalog:
        """The catalogue; right after start (`rollgate stdio` connects upstreams in the background)
        it waits, at most `stdio.first_listing_wait_seconds`, for the first connection attempts."""
        await self.gateway.pool.first_attempts(self.gateway.config.stdio.first_listing_wait_seconds)
        return self.gateway.pool.catalog

    async def list_tools(self, ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        await self._links(ctx)
        offered = (await self._catalog()).tools(declared(ctx.session.client_capabilities))
        return types.ListToolsResult(tools=[*offered, *META_TOOLS.values()])

    async def call_tool(self, ctx: Ctx, params: types.CallToolRequestParams) -> Any:  # the SDK serialises raw results
        principal = self.principal(ctx)
        links = await self._links(ctx)
        try:
            call = build_call(
                ctx.params,
                principal,
                links,
                ctx.session.report_progress,
                self._session_key(ctx),
                default_workflow=lambda: self.gateway.current.of(principal.id),
                header_workflow=_header(ctx, WORKFLOW_HEADER),
                max_depth=self.gateway.config.limits.max_json_depth,
                trace={name: value for name in TRACE_HEADERS if (value := _header(ctx, name))},
            )
            if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                stateless_round(call, ctx.session.client_capabilities, ctx.params)
            elif can_elicit(ctx.session.client_capabilities):
                call.ask_user = SdkCallChannel(ctx.session, ctx.request_id).request
            if isinstance(links.relay, DownstreamRelay):
                with links.relay.in_call(ctx.session, ctx.request_id):
                    return for_downstream(ctx, "tools/call", await self.gateway.dispatch(call))
            return for_downstream(ctx, "tools/call", await self.gateway.dispatch(call))
        except CallError as exc:
            raise as_mcp_error(exc) from None

    # -- prompts, resources, completions: routed by name or URI -----------------------------

    async def _forward(self, ctx: Ctx, upstream: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        links = await self._links(ctx)
        try:
            link = await links.get(upstream)
            modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS  # the request declares its own
            capabilities = declared(ctx.session.client_capabilities) if modern else None
            return for_downstream(ctx, method, await link.request(method, params, capabilities=capabilities))
        except CallError as exc:
            raise as_mcp_error(exc) from None

    def _dump(self, params: Any) -> dict[str, Any]:
        dumped = params.model_dump(by_alias=True, mode="json", exclude_none=True) if params is not None else {}
        if "_meta" in dumped:
            dumped["_meta"] = forwardable_meta(dumped["_meta"])
        return dumped

    async def list_prompts(self, ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=(await self._catalog()).prompts())

    async def get_prompt(self, ctx: Ctx, params: types.GetPromptRequestParams) -> Any:  # the SDK serialises raw results
        ref = (await self._catalog()).resolve_prompt(params.name)
        if ref is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown prompt {params.name!r}")
        return await self._forward(ctx, ref.upstream, "prompts/get", {**self._dump(params), "name": ref.name})

    async def list_resources(self, ctx: Ctx, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=(await self._catalog()).resources())

    async def list_resource_templates(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=(await self._catalog()).templates())

    async def _owner(self, uri: str) -> str:
        catalog = await self._catalog()
        owner = catalog.resolve_uri(uri) or catalog.only_upstream()
        if owner is None:
            # SEP-2164: an unknown resource is invalid params, naming the URI in `data`.
            raise MCPError(code=types.INVALID_PARAMS, message=f"no upstream serves resource {uri!r}", data={"uri": uri})
        return owner

    async def read_resource(
        self, ctx: Ctx, params: types.ReadResourceRequestParams
    ) -> Any:  # the SDK serialises raw results
        return await self._forward(ctx, await self._owner(str(params.uri)), "resources/read", self._dump(params))

    async def subscribe(self, ctx: Ctx, params: types.SubscribeRequestParams) -> Any:  # the SDK serialises raw results
        return await self._forward(ctx, await self._owner(str(params.uri)), "resources/subscribe", self._dump(params))

    async def unsubscribe(
        self, ctx: Ctx, params: types.UnsubscribeRequestParams
    ) -> Any:  # the SDK serialises raw results
        return await self._forward(ctx, await self._owner(str(params.uri)), "resources/unsubscribe", self._dump(params))

    async def complete(self, ctx: Ctx, params: types.CompleteRequestParams) -> Any:  # the SDK serialises raw results
        dumped = self._dump(params)
        ref = params.ref
        if isinstance(ref, types.PromptReference):
            target = (await self._catalog()).resolve_prompt(ref.name)
            if target is None:
                raise MCPError(code=types.INVALID_PARAMS, message=f"unknown prompt {ref.name!r}")
            dumped["ref"] = {**dumped["ref"], "name": target.name}
            return await self._forward(ctx, target.upstream, "completion/complete", dumped)
        return await self._forward(ctx, await self._owner(ref.uri), "completion/complete", dumped)

    async def set_logging_level(self, ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
        links = await self._links(ctx)
        for upstream in self.gateway.pool.control:
            caps = self.gateway.pool.control[upstream].capabilities
            if caps is None or caps.logging is None:
                continue
            try:
                link = await links.get(upstream)
                await link.request("logging/setLevel", self._dump(params))
            except (UpstreamError, MCPError) as exc:
                logger.warning("logging/setLevel not applied on %r: %s", upstream, exc)
        return types.EmptyResult()
