"""The stateful downstream sessions the gateway knows, by MCP session id (for the fast path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import ObjectSendStream

from gateway.models import Principal
from gateway.upstream.pool import LinkSet
from gateway.upstream.relay import DownstreamRelay


@dataclass(slots=True)
class KnownSession:
    """A stateful downstream session the gateway has already served through the SDK."""

    principal: Principal
    links: LinkSet
    relay: DownstreamRelay
    can_elicit: bool = False
    """The client declared the elicitation capability (the end user can be asked directly)."""
    pending: dict[str, ObjectSendStream[dict[str, Any]]] = field(default_factory=dict)
    """Server-to-client requests sent on a fast-path stream, awaiting the client's answer."""
    running: dict[Any, anyio.CancelScope] = field(default_factory=dict)
    """Fast-path calls in flight by JSON-RPC id, so `notifications/cancelled` can stop them."""


class SessionTable(dict[str, KnownSession]):
    """session id → KnownSession; entries are added by the handlers and dropped with the session."""
