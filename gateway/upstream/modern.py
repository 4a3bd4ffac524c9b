"""Upstreams spoken to in the stateless 2026-07-28 revision, and how a link picks its revision.

The gateway's control links (its catalogue, and the links of stateless clients) ask every
upstream `server/discover` first and speak the newest revision both sides support: dual-era
servers (the SDK's own) and 2026-07-28-only ones are spoken to statelessly, and only servers that
know no stateless revision get the `initialize` handshake (a server that refuses the handshake
with -32022 names the versions it serves, which picks the discover retry). A handshake-era
client's own links keep the handshake with dual-era servers, so such a client is served in its
era; a tool its own session is not offered (one the upstream lists to stateless clients only) is
called, for it, through a stateless twin of its link (`UpstreamLink.request`).
A stateless request carries its own envelope (`_meta` protocol version, client info and
capabilities, and the `Mcp-*` headers), so tools a server offers only to stateless clients, and
its caching fields, reach the gateway.

What the revision changes for a link, and how the link keeps the old face towards its owner:

- Server-to-client requests come back as an `input_required` result instead of requests on the
  stream. A link owned by a handshake-era session answers them itself, by relaying each embedded
  request to that session's client (as it relays sampling or elicitation of older upstreams), and
  retries the call with the answers; a 2026-07-28 client gets the result as it is and retries.
- List changes arrive on a `subscriptions/listen` stream rather than as notifications.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    Subscription,
    SubscriptionLost,
    ToolsListChanged,
    listen,
)
from mcp.shared.dispatcher import CallOptions
from mcp.shared.exceptions import MCPError
from mcp_types.methods import is_input_required
from mcp_types.version import LATEST_MODERN_VERSION, MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from gateway._sdk import stamp
from gateway.errors import InputRoundsExceeded

logger = logging.getLogger(__name__)

MAX_INPUT_ROUNDS = 10
"""Rounds of `input_required` a link answers for one call before it gives up (as the SDK client)."""

Send = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
"""Sends the call again with these params; returns the raw result."""
Ask = Callable[[str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]
"""Asks the downstream client (method, params) and returns its answer."""
ListChanged = Callable[[str], Awaitable[None]]

_EVENT_METHODS = {
    ToolsListChanged: "notifications/tools/list_changed",
    PromptsListChanged: "notifications/prompts/list_changed",
    ResourcesListChanged: "notifications/resources/list_changed",
}


def mutual_modern(supported: object) -> str | None:
    """The newest stateless revision in a server's `supported`/`supportedVersions` list that this
    gateway speaks too; None when there is none (or the list is not a list)."""
    if not isinstance(supported, list):
        return None
    mutual = [version for version in MODERN_PROTOCOL_VERSIONS if version in supported]
    return mutual[-1] if mutual else None


def _supported_of(exc: MCPError) -> object:
    data = exc.error.data
    if exc.error.code != types.UNSUPPORTED_PROTOCOL_VERSION or not isinstance(data, Mapping):
        return None
    return data.get("supported")


async def negotiate(session: ClientSession, *, newest: bool = True) -> str:
    """Speak the newest revision both sides support (2026-07-28 basic/lifecycle, version discovery).

    `server/discover` first: a server that answers it with a revision we share is spoken to
    statelessly, handshake-era servers refuse or do not know the method and get `initialize`.
    A -32022 answer to either names the versions the server serves, which picks the one retry.
    With `newest=False` (a handshake-era client's own link), the handshake first: a dual-era
    server then serves that client in its era, push-style sampling, elicitation and logs included.
    """
    if not newest:
        return await _handshake(session)
    version = LATEST_MODERN_VERSION
    for _ in range(2):
        try:
            discovered = types.DiscoverResult.model_validate(await session.send_discover(version))
        except MCPError as exc:
            retry = mutual_modern(_supported_of(exc))
            if retry is not None and retry != version:
                version = retry
                continue
            return await _handshake(session)
        except ValidationError:
            return await _handshake(session)
        if mutual_modern(discovered.supported_versions) is None:
            return await _handshake(session)  # it answers discover but advertises the handshake only
        session.adopt(discovered)
        assert session.protocol_version is not None
        return session.protocol_version
    return await _handshake(session)


async def _handshake(session: ClientSession) -> str:
    """`initialize`; an upstream that refuses it naming stateless versions only is adopted by
    discover at the newest one we share."""
    try:
        return (await session.initialize()).protocol_version
    except MCPError as exc:
        version = mutual_modern(_supported_of(exc))
        if version is None:
            raise
    session.adopt(types.DiscoverResult.model_validate(await session.send_discover(version)))
    assert session.protocol_version is not None
    return session.protocol_version


def is_modern(session: ClientSession) -> bool:
    return session.protocol_version in MODERN_PROTOCOL_VERSIONS


def stamped(
    session: ClientSession,
    method: str,
    params: Mapping[str, Any] | None,
    opts: CallOptions,
    log_level: str | None = None,
    capabilities: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The params with the request envelope; `opts` gets its headers. The SDK keeps the stamp
    private (its own raw callers, such as `listen`, use it the same way). `log_level` opts the
    request in to log notifications at that level; `capabilities` replaces the declared ones."""
    data: dict[str, Any] = {"method": method, "params": {**(params or {})}}
    meta = data["params"]["_meta"] = dict(data["params"].get("_meta") or {})
    if log_level is not None:
        meta.setdefault(types.LOG_LEVEL_META_KEY, log_level)
    stamp(session, data, opts)
    if capabilities is not None:
        meta[types.CLIENT_CAPABILITIES_META_KEY] = dict(capabilities)
    stamped: dict[str, Any] = data["params"]
    return stamped


async def answer_inline(params: Mapping[str, Any], result: dict[str, Any], send: Send, ask: Ask) -> dict[str, Any]:
    """Drive `input_required` rounds for an owner that cannot: ask its client each embedded
    request, send the call again with the answers, until the result is final."""
    for _ in range(MAX_INPUT_ROUNDS):
        if not is_input_required(result):
            return result
        responses: dict[str, Any] = {}
        for key, request in (result.get("inputRequests") or {}).items():
            try:
                responses[key] = await ask(request["method"], request.get("params"))
            except MCPError as exc:
                # The client could not answer (no such capability, refused): the upstream
                # hears of it as a declined elicitation would tell it, by the missing key.
                logger.info("input request %r of an upstream not answered by the client: %s", key, exc)
        retry = {k: v for k, v in params.items() if k not in ("inputResponses", "requestState")}
        if responses:
            retry["inputResponses"] = responses
        if result.get("requestState") is not None:
            retry["requestState"] = result["requestState"]
        result = await send(retry)
    if is_input_required(result):
        raise InputRoundsExceeded(f"upstream asked for input more than {MAX_INPUT_ROUNDS} times")
    return result


@asynccontextmanager
async def list_changes(session: ClientSession) -> AsyncIterator[Subscription | None]:
    """A `subscriptions/listen` stream of the upstream's list changes, acknowledged on entry (so
    no change after the link is ready can be missed); None when the upstream offers none."""
    async with AsyncExitStack() as stack:
        events: Subscription | None = None
        try:
            events = await stack.enter_async_context(
                listen(session, tools_list_changed=True, prompts_list_changed=True, resources_list_changed=True)
            )
        except MCPError as exc:
            logger.info("upstream offers no subscriptions/listen (%s): its list changes are not followed", exc)
        yield events


async def follow(events: Subscription, changed: ListChanged) -> None:
    """Hand each list change to `changed`, until the stream ends."""
    with contextlib.suppress(SubscriptionLost):
        async for event in events:
            method = _EVENT_METHODS.get(type(event))
            if method is not None:
                await changed(method)
