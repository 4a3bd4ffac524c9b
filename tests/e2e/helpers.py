"""Clients used by the end-to-end tests: the official SDK client with recording callbacks, and a raw one."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway.pipeline.verdict import DECISION_META


@dataclass
class Recorder:
    """Everything the server sent this client on its own initiative."""

    tag: str
    logs: list[Any] = field(default_factory=list)
    sampled: list[str] = field(default_factory=list)
    elicited: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    request_ids: list[Any] = field(default_factory=list)
    """The ids of the server-to-client requests answered."""

    async def sampling(self, ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.request_ids.append(ctx.request_id)
        content = params.messages[0].content
        self.sampled.append(content.text if isinstance(content, types.TextContent) else str(content))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"model of {self.tag}"), model="test"
        )

    async def elicitation(self, ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.request_ids.append(ctx.request_id)
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


class RawSession:
    """A bare JSON-RPC client over streamable HTTP, to send what the SDK client does not
    (`params.task`, forged `requestState`). With `capabilities`, it speaks the stateless
    2026-07-28 envelope, declaring those capabilities on every request."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, token: str, capabilities: dict[str, Any] | None = None
    ) -> None:
        self._http, self._url, self._id = http, url, 0
        self.headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"}
        self._envelope: dict[str, Any] | None = None
        if capabilities is not None:
            self.headers["mcp-protocol-version"] = "2026-07-28"
            self._envelope = {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": capabilities,
            }

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        headers = dict(self.headers)
        if self._envelope is not None:
            params = {**params, "_meta": {**params.get("_meta", {}), **self._envelope}}
            headers |= {"mcp-method": method} | ({"mcp-name": params["name"]} if "name" in params else {})
        response = await self._http.post(
            self._url, headers=headers, json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        )
        if "mcp-session-id" in response.headers:
            self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        bodies = (
            [response.text]
            if response.headers["content-type"].startswith("application/json")
            else [
                line[5:].strip() for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()
            ]
        )
        for body in bodies:
            message = json.loads(body)
            if message.get("id") == self._id:
                return message
        raise AssertionError(f"no answer to {method}: {response.text}")


def decision_of(result: Any) -> dict[str, Any]:
    """The decision in the gateway's answer to a call it did not run, from an SDK result or a raw
    one: always in `_meta["rollgate/decision"]` (the structured content too only for tools
    without an outputSchema)."""
    meta = result.get("_meta") if isinstance(result, dict) else result.meta
    assert meta and DECISION_META in meta, f"no decision in {result!r}"
    return dict(meta[DECISION_META])


async def handshake_session(http: Any, url: str, token: str) -> dict[str, str]:
    """A 2025-11-25 session opened by hand over `http` (an httpx client; the test owns its
    connections): initialize, initialized; the headers every later request of it carries."""
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
    }
    init = await http.post(
        url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        headers=headers,
    )
    headers |= {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
    await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


END_USER_POLICY = (
    "package rollgate.policy\nimport rego.v1\n"
    'decision := {"effect": "require_approval", "reasons": ["your call"], "approvers": [{"role": "end_user"}]}\n'
)
"""A policy that holds every call for its end user's own approval."""


def end_user_policies(tmp_path: Any) -> Any:
    """A policy directory under `tmp_path` with `END_USER_POLICY` alone."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rego").write_text(END_USER_POLICY)
    return policies


def operator_cli(
    gateway: Any, *args: str, token: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`rollgate ARGS` against a gateway from `start_gateway`, with its configuration and an
    operator's token (`token`; `env` adds to the environment, e.g. to clear ROLLGATE_APPROVER_TOKEN)."""
    from tests.conftest import APPROVER_TOKEN, PYTHON, ROOT

    config = gateway.log.parent / f"rollgate-{gateway.base.rsplit(':', 1)[1]}.toml"
    given = [] if token == "" else ["--token", token or APPROVER_TOKEN]
    return subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), *args, *given],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
