"""A client that supports MCP tasks (2025-11-25) gets a task for a held call, and its result later."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import APPROVER_TOKEN, DEFAULT_POLICIES, TOKEN
from tests.e2e.helpers import http_client
from tests.e2e.test_approvals import demo, funded_accounts, transfers

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


class RawSession:
    """A bare JSON-RPC client over streamable HTTP, to send what the SDK client does not (params.task)."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http, self._url, self._id = http, url, 0
        self.headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {TOKEN}"}

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        response = await self._http.post(
            self._url, headers=self.headers, json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
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


async def test_a_held_call_becomes_a_task_that_completes_with_the_real_result(start_gateway, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES, approvals="wait_seconds = 2")
    async with http_client(gateway.url, TOKEN) as client:
        source, target = await funded_accounts(client)
    async with httpx.AsyncClient(timeout=30) as http:
        session = RawSession(http, gateway.url)
        init = await session.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "clientInfo": {"name": "tasks-client", "version": "1"},
                "capabilities": {"tasks": {"requests": {"tools": {"call": {}}}}},
            },
        )
        assert init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"] == {}
        session.headers["mcp-protocol-version"] = "2025-11-25"
        await http.post(
            gateway.url, headers=session.headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        arguments = {"from_account_id": source, "to_account_id": target, "amount_cents": 900}
        created = await session.request(
            "tools/call", {"name": "demo__transfer", "arguments": arguments, "task": {"ttl": 60000}}
        )
        task = created["result"]["task"]
        assert task["status"] == "working" and "waiting for approval" in task["statusMessage"]
        assert transfers(db) == []
        async with httpx.AsyncClient(
            base_url=gateway.base, headers={"Authorization": f"Bearer {APPROVER_TOKEN}"}, timeout=30
        ) as approver:
            assert (await approver.post(f"/api/approvals/{task['taskId']}/approve", json={})).status_code == 200
        with anyio.fail_after(20):
            while (await session.request("tasks/get", {"taskId": task["taskId"]}))["result"]["status"] != "completed":
                await anyio.sleep(0.2)
        payload = await session.request("tasks/result", {"taskId": task["taskId"]})
        unknown = await session.request("tasks/get", {"taskId": "apr_unknown"})
    assert payload["result"]["structuredContent"]["amount_cents"] == 900
    assert transfers(db) == [(source, target, 900, "completed")]
    assert unknown["error"]["code"] == -32602
