"""Upstreams that speak only the stateless 2026-07-28 revision.

Such a server refuses the `initialize` handshake with -32022 and names the versions it serves; the
link then adopts `server/discover` instead, and every request carries its own envelope
(`_meta` protocol version, client info and capabilities, and the `Mcp-*` headers). Dual-era
servers (the SDK's own) keep the handshake, so nothing changes for them.

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
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

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


class InputRoundsExceeded(MCPError):
    def __init__(self) -> None:
        super().__init__(
            code=types.INTERNAL_ERROR, message=f"upstream asked for input more than {MAX_INPUT_ROUNDS} times"
        )


async def negotiate(session: ClientSession) -> str:
    """The protocol version: the handshake's, or, when the upstream refuses the handshake and
    names 2026-07-28 versions only, the one adopted from `server/discover`."""
    try:
        return (await session.initialize()).protocol_version
    except MCPError as exc:
        data = exc.error.data if isinstance(exc.error.data, Mapping) else {}
        supported = data.get("supported")
        mutual = [v for v in MODERN_PROTOCOL_VERSIONS if isinstance(supported, list) and v in supported]
        if exc.error.code != types.UNSUPPORTED_PROTOCOL_VERSION or not mutual:
            raise
    session.adopt(types.DiscoverResult.model_validate(await session.send_discover(mutual[-1])))
    assert session.protocol_version is not None
    return session.protocol_version


def is_modern(session: ClientSession) -> bool:
    return session.protocol_version in MODERN_PROTOCOL_VERSIONS


def stamped(session: ClientSession, method: str, params: Mapping[str, Any] | None, opts: CallOptions) -> dict[str, Any]:
    """The params with the request envelope; `opts` gets its headers. The SDK keeps the stamp
    private (its own raw callers, such as `listen`, use it the same way)."""
    data: dict[str, Any] = {"method": method, "params": {**(params or {})}}
    if "_meta" in data["params"]:
        data["params"]["_meta"] = dict(data["params"]["_meta"])
    session._stamp(data, opts)  # pyright: ignore[reportPrivateUsage]
    return data["params"]


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
        raise InputRoundsExceeded()
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
