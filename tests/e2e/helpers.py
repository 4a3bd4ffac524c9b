"""Clients used by the end-to-end tests: the official SDK client, with recording callbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


@dataclass
class Recorder:
    """Everything the server sent this client on its own initiative."""

    tag: str
    logs: list[Any] = field(default_factory=list)
    sampled: list[str] = field(default_factory=list)
    elicited: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)

    async def sampling(self, ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        content = params.messages[0].content
        self.sampled.append(content.text if isinstance(content, types.TextContent) else str(content))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"model of {self.tag}"), model="test"
        )

    async def elicitation(self, ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicited.append(params.message)
        return types.ElicitResult(action="accept", content={"name": self.tag})

    async def logging(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params.data)

    async def message(self, message: Any) -> None:
        if not isinstance(message, Exception):
            self.notifications.append(message.method)


@asynccontextmanager
async def http_client(
    url: str, token: str | None, recorder: Recorder | None = None, **kwargs: Any
) -> AsyncIterator[Client]:
    recorder = recorder or Recorder("client")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(
            transport,
            mode=kwargs.pop("mode", "legacy"),
            sampling_callback=recorder.sampling,
            elicitation_callback=recorder.elicitation,
            logging_callback=recorder.logging,
            message_handler=recorder.message,
            **kwargs,
        ) as client:
            yield client


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))
