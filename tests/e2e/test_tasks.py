"""Clients that take MCP tasks get one for a held call, and its result later.

2025-11-25 clients ask with `params.task` on a session; 2026-07-28 clients declare the
`io.modelcontextprotocol/tasks` extension in each request's capabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import APPROVER_TOKEN, DEFAULT_POLICIES, OTHER_TOKEN, TOKEN
from tests.e2e.helpers import RawSession, decision_of
from tests.e2e.test_approvals import demo, funded_demo, transfers

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_a_held_call_becomes_a_task_that_completes_with_the_real_result(start_gateway, tmp_path: Path) -> None:
    gateway, db, source, target = await funded_demo(start_gateway, tmp_path, approvals="wait_seconds = 2")
    async with httpx.AsyncClient(timeout=30) as http:
        session = RawSession(http, gateway.url, TOKEN)
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


async def legacy_session(http: httpx.AsyncClient, url: str, token: str = TOKEN) -> RawSession:
    session = RawSession(http, url, token)
    await session.request(
        "initialize",
        {
            "protocolVersion": "2025-11-25",
            "clientInfo": {"name": "tasks-client", "version": "1"},
            "capabilities": {"tasks": {"requests": {"tools": {"call": {}}}}},
        },
    )
    session.headers["mcp-protocol-version"] = "2025-11-25"
    await http.post(url, headers=session.headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return session


def approver(gateway: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.base, headers={"Authorization": f"Bearer {APPROVER_TOKEN}"}, timeout=30)


async def test_a_task_augmented_call_that_needs_no_approval_is_a_task_born_completed(
    start_gateway, tmp_path: Path
) -> None:
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES)
    async with httpx.AsyncClient(timeout=30) as http:
        session = await legacy_session(http, gateway.url)
        arguments = {"name": "Ada", "email": "ada@example.com"}
        created = await session.request(
            "tools/call", {"name": "demo__create_customer", "arguments": arguments, "task": {"ttl": 60000}}
        )
        task = created["result"]["task"]
        got = await session.request("tasks/get", {"taskId": task["taskId"]})
        payload = await session.request("tasks/result", {"taskId": task["taskId"]})
        cancel = await session.request("tasks/cancel", {"taskId": task["taskId"]})
        stranger = await legacy_session(http, gateway.url, OTHER_TOKEN)
        foreign = await stranger.request("tasks/get", {"taskId": task["taskId"]})
        unknown_tool = await session.request("tools/call", {"name": "demo__nope", "arguments": {}, "task": {}})
    assert task["status"] == "completed" and task["taskId"].startswith("task_")
    assert got["result"]["status"] == "completed" and got["result"]["statusMessage"].startswith("ran at once")
    assert payload["result"]["structuredContent"]["name"] == "Ada"
    assert cancel["error"]["code"] == -32602 and "already completed" in cancel["error"]["message"]
    assert foreign["error"]["code"] == -32602  # another principal's task does not exist for it
    assert "error" in unknown_tool  # a call that cannot start is an error, not a task


async def test_an_agent_that_cancels_its_held_task_withdraws_the_call_and_it_never_runs(
    start_gateway, tmp_path: Path
) -> None:
    gateway, db, source, target = await funded_demo(start_gateway, tmp_path)
    async with httpx.AsyncClient(timeout=30) as http, approver(gateway) as person:
        session = await legacy_session(http, gateway.url)
        arguments = {"from_account_id": source, "to_account_id": target, "amount_cents": 700}
        created = await session.request("tools/call", {"name": "demo__transfer", "arguments": arguments, "task": {}})
        task_id = created["result"]["task"]["taskId"]
        cancelled = await session.request("tasks/cancel", {"taskId": task_id})
        again = await session.request("tasks/cancel", {"taskId": task_id})
        late = await person.post(f"/api/approvals/{task_id}/approve", json={})
        shown = (await person.get(f"/api/approvals/{task_id}")).json()
    assert cancelled["result"]["status"] == "cancelled"
    assert again["error"]["code"] == -32602  # cancelling a task in a terminal state is an error
    assert late.status_code == 409
    assert shown["state"] == "denied" and shown["denied_by"] == "agent-one"
    assert transfers(db) == []


async def test_a_2026_client_with_the_tasks_extension_gets_a_task_whose_result_comes_inline(
    start_gateway, tmp_path: Path
) -> None:
    gateway, db, source, target = await funded_demo(start_gateway, tmp_path)
    tasks = {"extensions": {"io.modelcontextprotocol/tasks": {}}}
    async with httpx.AsyncClient(timeout=30) as http, approver(gateway) as person:
        modern = RawSession(http, gateway.url, TOKEN, capabilities=tasks)
        plain = RawSession(http, gateway.url, TOKEN, capabilities={})
        arguments = {"from_account_id": source, "to_account_id": target, "amount_cents": 1_100}
        created = (await modern.request("tools/call", {"name": "demo__transfer", "arguments": arguments}))["result"]
        untasked = await plain.request(
            "tools/call", {"name": "demo__transfer", "arguments": {**arguments, "amount_cents": 5}}
        )
        assert (await person.post(f"/api/approvals/{created['taskId']}/approve", json={})).status_code == 200
        with anyio.fail_after(20):
            while (done := (await modern.request("tasks/get", {"taskId": created["taskId"]}))["result"])[
                "status"
            ] == "working":
                await anyio.sleep(0.2)
        other = await modern.request(
            "tools/call", {"name": "demo__transfer", "arguments": {**arguments, "amount_cents": 7}}
        )
        cancelled = await modern.request("tasks/cancel", {"taskId": other["result"]["taskId"]})
        after = (await modern.request("tasks/get", {"taskId": other["result"]["taskId"]}))["result"]
        update = await modern.request("tasks/update", {"taskId": created["taskId"], "inputResponses": {}})
    assert created["resultType"] == "task" and created["status"] == "working" and "result" not in created
    assert decision_of(untasked["result"])["status"] == "pending"  # no extension: the pending answer
    assert done["resultType"] == "complete" and done["status"] == "completed"
    assert done["result"]["structuredContent"]["amount_cents"] == 1_100
    assert cancelled["result"]["resultType"] == "complete"
    assert after["status"] == "cancelled"
    assert update["result"]["resultType"] == "complete"
    assert transfers(db) == [(source, target, 1_100, "completed")]
