"""Client sessions for the bench: the SDK v2 `Client`, or the bare client of `raw_client`.

Both are seen through `ToolSession`, so the measuring loop is the same whichever client runs, and
a target is either a stdio command (the session launches the server) or a streamable HTTP URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.client import ConnectMode
from mcp.client.streamable_http import streamable_http_client
from raw_client import raw_http_session, raw_stdio_session

ClientKind = Literal["sdk", "raw"]
# Bounds the SDK handshake: a session cannot be opened inside `fail_after`, its task groups outlive it.
READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StdioTarget:
    command: list[str]


@dataclass(frozen=True)
class HttpTarget:
    url: str
    headers: dict[str, str] = field(default_factory=dict)


Target = StdioTarget | HttpTarget


class ToolSession(Protocol):
    async def tool_names(self) -> list[str]: ...

    async def call(self, name: str, arguments: dict[str, Any]) -> str | None:
        """Call a tool; the error text if the result is an error, else None."""
        ...


def open_session(target: Target, client: ClientKind, mode: ConnectMode) -> AbstractAsyncContextManager[ToolSession]:
    if client == "raw":
        if isinstance(target, StdioTarget):
            return raw_stdio_session(target.command)
        return raw_http_session(target.url, target.headers)
    return _sdk_session(target, mode)


class _SdkSession:
    def __init__(self, client: Client) -> None:
        self._client = client

    async def tool_names(self) -> list[str]:
        return [tool.name for tool in (await self._client.list_tools()).tools]

    async def call(self, name: str, arguments: dict[str, Any]) -> str | None:
        result = await self._client.call_tool(name, arguments)
        if not result.is_error:
            return None
        return " ".join(getattr(part, "text", "") for part in result.content)[:300] or "isError"


@asynccontextmanager
async def _sdk_session(target: Target, mode: ConnectMode) -> AsyncIterator[ToolSession]:
    if isinstance(target, StdioTarget):
        params = StdioServerParameters(command=target.command[0], args=target.command[1:])
        async with Client(params, mode=mode, cache=None, read_timeout_seconds=READ_TIMEOUT_S) as client:
            yield _SdkSession(client)
        return
    # httpx keeps only 20 idle connections by default: at 32 calls in flight the rest would be
    # reconnected on every call, which measures the client's pool rather than the server.
    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
    timeout = httpx2.Timeout(30, read=300)
    async with (
        httpx2.AsyncClient(headers=target.headers, limits=limits, timeout=timeout) as http,
        Client(
            streamable_http_client(target.url, http_client=http),
            mode=mode,
            cache=None,
            read_timeout_seconds=READ_TIMEOUT_S,
        ) as client,
    ):
        yield _SdkSession(client)
