"""Delivers an upstream's server-to-client traffic to the downstream session that owns the link.

Each downstream client session has its own upstream links, so progress, logging, sampling,
elicitation and roots requests of one client never reach another. Within a session, a request
that arrives while calls are in flight rides the newest call's response stream (where streamable
HTTP clients expect it); otherwise it goes out on the session's standalone channel.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import mcp_types as types
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError, NoBackChannelError
from pydantic import TypeAdapter

from gateway._sdk import send_client_request

_REQUESTS: TypeAdapter[types.ServerRequest] = TypeAdapter(types.ServerRequest)
_NOTIFICATIONS: TypeAdapter[types.ServerNotification] = TypeAdapter(types.ServerNotification)


class CallChannel(Protocol):
    """Where traffic for one in-flight call goes: that call's response stream."""

    async def request(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]: ...

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None: ...


class SdkCallChannel:
    """A call served by the SDK's server: its request-scoped back-channel."""

    def __init__(self, session: ServerSession, request_id: types.RequestId | None) -> None:
        self._session = session
        self._request_id = request_id

    async def request(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        request = _REQUESTS.validate_python({"method": method, "params": params})
        data = request.model_dump(by_alias=True, mode="json", exclude_none=True)
        try:
            return await send_client_request(
                self._session, data["method"], data.get("params"), request_scoped=self._request_id is not None
            )
        except NoBackChannelError:
            raise MCPError(
                code=types.INVALID_REQUEST, message=f"the client's transport cannot receive {method} requests"
            ) from None

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None:
        notification = _NOTIFICATIONS.validate_python({"method": method, "params": params})
        await self._session.send_notification(notification, related_request_id=self._request_id)


class DownstreamRelay:
    """The downstream end of one client session's upstream links."""

    def __init__(self) -> None:
        self._calls: list[CallChannel] = []
        self._standalone: ServerSession | None = None

    def attach(self, session: ServerSession) -> None:
        """Remember a session handle for traffic that belongs to no call (list_changed, logs)."""
        self._standalone = session

    @contextmanager
    def in_channel(self, channel: CallChannel) -> Iterator[None]:
        self._calls.append(channel)
        try:
            yield
        finally:
            self._calls.remove(channel)

    def in_call(self, session: ServerSession, request_id: types.RequestId | None) -> AbstractContextManager[None]:
        self._standalone = session
        return self.in_channel(SdkCallChannel(session, request_id))

    def _target(self) -> CallChannel | None:
        if self._calls:
            return self._calls[-1]
        return SdkCallChannel(self._standalone, None) if self._standalone is not None else None

    async def request(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        target = self._target()
        if target is None:
            raise MCPError(code=types.INVALID_REQUEST, message=f"no client session to send {method} to")
        return await target.request(method, params)

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None:
        target = self._target()
        if target is not None:
            await target.notify(method, params)

    async def broadcast(self, method: str) -> None:
        """A session-wide notice (list_changed) on the standalone channel, never on a call's stream."""
        if self._standalone is not None:
            notification = _NOTIFICATIONS.validate_python({"method": method})
            await self._standalone.send_notification(notification)


class NullRelay:
    """The relay of the gateway's own control links, which serve no client."""

    async def request(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        raise MCPError(code=types.INVALID_REQUEST, message=f"{method} is not available outside a client session")

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None:
        return None
