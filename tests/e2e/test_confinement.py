"""Two agents on one gateway: nothing B does reaches A's workflows, sessions or approvals.

Each attack of issue 13 against a real gateway in front of the demo bank: refused with a clear
error, the refusal on record in the ledger, and A's workflow, session and data unchanged.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import DEFAULT_POLICIES, OTHER_TOKEN, PYTHON, ROOT, TOKEN
from tests.e2e.helpers import RawSession, decision_of, http_client, text_of
from tests.e2e.test_approvals import demo, funded_accounts
from tests.e2e.test_rollback import httpx_approver

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def ledger(state: Path, kind: str | None = None) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 2
    while True:
        with sqlite3.connect(state / "ledger.db") as db:
            rows = [json.loads(bytes(body)) for (body,) in db.execute("SELECT body FROM ledger ORDER BY seq")]
        found = [r for r in rows if kind is None or r["kind"] == kind]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def customers(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return sorted(name for (name,) in conn.execute("SELECT name FROM customers"))


async def test_another_agent_cannot_roll_back_checkpoint_inspect_or_join_a_workflow(start_gateway, tmp_path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    async with http_client(gateway.url, TOKEN) as a, http_client(gateway.url, OTHER_TOKEN) as b:
        workflow = (await a.call_tool("rollgate_begin_workflow", {"atomic": True})).structured_content["workflow_id"]
        meta = {"rollgate/workflow": workflow}
        created = await a.call_tool("demo__create_customer", {"name": "Ada", "email": "ada@example.com"}, meta=meta)
        assert not created.is_error
        for tool, arguments in (
            ("rollgate_rollback", {"workflow_id": workflow}),
            ("rollgate_checkpoint", {"workflow_id": workflow, "label": "mine"}),
            ("rollgate_status", {"workflow_id": workflow}),
        ):
            with pytest.raises(MCPError, match="belongs to another principal"):
                await b.call_tool(tool, arguments)
        with pytest.raises(MCPError, match="belongs to another principal"):  # a failing call in A's atomic workflow
            await b.call_tool("demo__deposit", {"account_id": "nope", "amount_cents": -5}, meta=meta)
        for _ in range(3):
            with pytest.raises(MCPError, match="belongs to another principal"):
                await b.call_tool("demo__create_customer", {"name": "Eve", "email": "e@x.org"}, meta=meta)
        status = (await a.call_tool("rollgate_status", {"workflow_id": workflow})).structured_content
        assert status["status"] == "active" and len(status["steps"]) == 1 and status["checkpoints"] == []
    assert customers(db) == ["Ada"]
    refused = [
        e["data"] for e in ledger(tmp_path / "state", "call.refused") if e["data"].get("principal") == "agent-two"
    ]
    assert len(refused) == 7 and all("belongs to another principal" in r["error"] for r in refused)


async def test_another_agent_cannot_use_a_session_it_did_not_open(start_gateway, tmp_path) -> None:
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES)
    async with httpx.AsyncClient(timeout=30) as http:
        a = RawSession(http, gateway.url, TOKEN)
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "a", "version": "1"}}
        assert "result" in await a.request("initialize", init)
        session = a.headers["mcp-session-id"]
        b_headers = {**a.headers, "Authorization": f"Bearer {OTHER_TOKEN}"}
        attempts = [
            http.delete(gateway.url, headers=b_headers),
            http.get(gateway.url, headers={**b_headers, "Accept": "text/event-stream"}),
            http.post(gateway.url, headers=b_headers, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            http.post(
                gateway.url,
                headers=b_headers,
                json={"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
            ),
            http.post(gateway.url, headers=b_headers, json={"jsonrpc": "2.0", "id": "rollgate-1", "result": {}}),
        ]
        for attempt in attempts:
            answer = await attempt
            assert answer.status_code == 403, answer.text
            assert "belongs to another principal" in answer.json()["error"]["message"]
        listed = await a.request("tools/list", {})
        assert any(t["name"] == "demo__create_customer" for t in listed["result"]["tools"])
    refused = [e["data"] for e in ledger(tmp_path / "state", "call.refused") if e["data"].get("session") == session]
    assert sorted(r["method"] for r in refused) == ["DELETE", "GET", "POST", "POST", "POST"]


async def test_a_quarantine_is_not_escaped_by_another_workflow_id(start_gateway, tmp_path) -> None:
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES)
    async with http_client(gateway.url, TOKEN) as a, httpx_approver(gateway) as operator:
        workflow = (await a.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        meta = {"rollgate/workflow": workflow}
        await a.call_tool("demo__create_customer", {"name": "Ada", "email": "ada@example.com"}, meta=meta)
        answer = await operator.post(f"/api/workflows/{workflow}/quarantine", json={"reason": "fraud check"})
        assert answer.status_code == 200
        for escape in ({"rollgate/workflow": "wf_fresh"}, None):
            refused = await a.call_tool("demo__create_customer", {"name": "Eve", "email": "e@x.org"}, meta=escape)
            assert refused.is_error and "owns quarantined workflow" in text_of(refused)
        assert not (await a.call_tool("demo__list_customers", {})).is_error  # reads still work
        assert (await operator.post(f"/api/workflows/{workflow}/release", json={})).status_code == 200
        assert not (await a.call_tool("demo__create_customer", {"name": "Eve", "email": "e@x.org"})).is_error
        answer = await operator.post("/api/agents/agent-one/quarantine", json={"reason": "runaway"})
        assert answer.status_code == 200
        refused = await a.call_tool("demo__list_customers", {})
        assert refused.is_error and "agent agent-one is quarantined: runaway" in text_of(refused)


async def test_the_sdk_client_in_its_default_mode_rolls_back_what_it_just_did(start_gateway, tmp_path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    async with http, Client(streamable_http_client(gateway.url, http_client=http)) as client:  # default mode
        for name in ("Ada", "Bob", "Cy"):
            done = await client.call_tool("demo__create_customer", {"name": name, "email": f"{name}@x.org"})
            assert not done.is_error, text_of(done)
        assert customers(db) == ["Ada", "Bob", "Cy"]
        report = await client.call_tool("rollgate_rollback", {})
        assert not report.is_error, text_of(report)
        assert len(report.structured_content["compensated"]) == 3
    assert customers(db) == []
    async with http_client(gateway.url, OTHER_TOKEN, mode="auto") as b:  # B's current workflow is its own
        assert (await b.call_tool("rollgate_status", {})).structured_content["steps"] == []


async def test_an_approval_runs_only_the_call_that_was_held_and_only_while_policy_allows(
    start_gateway, tmp_path
) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES, approvals="wait_seconds = 0")
    state = tmp_path / "state"
    async with http_client(gateway.url, TOKEN) as a, httpx_approver(gateway) as approver:
        source, target = await funded_accounts(a)
        held = await a.call_tool(
            "demo__transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": 22}
        )
        ticket = decision_of(held)["approval_id"]
        with sqlite3.connect(state / "approvals.db") as conn:  # someone with file access edits the ticket
            (document,) = conn.execute("SELECT document FROM tickets WHERE id = ?", (ticket,)).fetchone()
            forged = json.loads(document)
            forged["arguments"]["amount_cents"] = 9_000
            forged["display_arguments"]["amount_cents"] = 22
            conn.execute("UPDATE tickets SET document = ? WHERE id = ?", (json.dumps(forged), ticket))
        assert (await approver.post(f"/api/approvals/{ticket}/approve", json={})).status_code == 200
        with anyio.fail_after(20):
            while (await approver.get(f"/api/approvals/{ticket}")).json()["state"] != "failed":
                await anyio.sleep(0.2)
        assert (
            "does not match the call that was held" in (await approver.get(f"/api/approvals/{ticket}")).json()["error"]
        )

        second = await a.call_tool(
            "demo__transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": 33}
        )
        workflow = decision_of(second) and (await a.call_tool("rollgate_status", {})).structured_content["workflow"]
        await approver.post(f"/api/workflows/{workflow}/quarantine", json={"reason": "held too long"})
        ticket2 = decision_of(second)["approval_id"]
        assert (await approver.post(f"/api/approvals/{ticket2}/approve", json={})).status_code == 200
        with anyio.fail_after(20):
            while (detail := (await approver.get(f"/api/approvals/{ticket2}")).json())["state"] != "failed":
                await anyio.sleep(0.2)
        assert "quarantined" in detail["error"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM transfers").fetchone() == (0,)
    assert [e["data"]["approval_id"] for e in ledger(state, "approval.tampered")] == [ticket]


async def test_planted_secrets_never_reach_a_state_file_or_the_approvals_api(start_gateway, tmp_path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES, approvals="wait_seconds = 0")
    planted = ["pw-Planted-0001", "key-Planted-0002", "4111111111111111"]
    async with http_client(gateway.url, TOKEN) as a, httpx_approver(gateway) as approver:
        secret = {"password": planted[0], "nested": {"api_key": planted[1]}, "card_number": planted[2]}
        await a.call_tool("demo__update_record", {"key": "profile", "value": secret})
        held = await a.call_tool("demo__send_email", {"to": "a@x.org", "subject": "s", "body": "b", "meta": secret})
        shown = json.dumps((await approver.get("/api/approvals")).json())
        assert held.is_error and all(p not in shown for p in planted)
    time.sleep(0.2)
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert all(p.encode() not in data for p in planted), path
            assert path.stat().st_mode & 0o077 == 0, path
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    log = gateway.log.read_text()
    assert all(p not in log for p in planted)


async def test_malformed_requests_get_clear_errors_never_a_500(start_gateway, tmp_path) -> None:
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES)
    async with httpx.AsyncClient(timeout=30) as http:
        a = RawSession(http, gateway.url, TOKEN)
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "a", "version": "1"}}
        await a.request("initialize", init)
        await http.post(gateway.url, headers=a.headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        for levels in (150, 5_000):  # past limits.max_json_depth; past the JSON parser's own limit
            nested = '{"a":' * levels + '"x"' + "}" * levels
            body = (
                '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"demo__update_record",'
                f'"arguments":{{"key":"k","value":{nested}}}}}}}'
            )
            headers = {**a.headers, "content-type": "application/json"}
            deep = await http.post(gateway.url, headers=headers, content=body)
            assert deep.status_code in (200, 400) and ("max_json_depth" in deep.text or "Parse error" in deep.text)
        bad_steps = await a.request("tools/call", {"name": "rollgate_rollback", "arguments": {"steps": [[]]}})
        assert bad_steps["error"]["code"] == -32602
        empty = await a.request("tools/call", {"name": "rollgate_rollback", "arguments": {"steps": []}})
        assert "non-empty" in empty["error"]["message"]
        for body in (
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["x"]},
            {"jsonrpc": "1.0", "id": 7, "method": "tools/call", "params": {"name": "demo__list_customers"}},
        ):
            answer = await http.post(gateway.url, headers=a.headers, json=body)
            assert answer.status_code < 500, answer.text
        resumed = await http.get(gateway.url, headers={**a.headers, "Last-Event-ID": "fp-1-²".encode()})
        assert resumed.status_code == 404


def test_a_state_directory_that_cannot_be_written_is_exit_status_2_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "not-a-folder"
    state.write_text("a file where the state directory should be")  # unwritable even for root
    config = tmp_path / "rollgate.toml"
    config.write_text(f'[paths]\nstate_dir = "{state}"\npolicies = "{DEFAULT_POLICIES}"\n')
    done = subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), "serve"], cwd=ROOT, capture_output=True, timeout=60
    )
    assert done.returncode == 2, done.stderr.decode()
    assert str(state) in done.stderr.decode() and "Traceback" not in done.stderr.decode()


async def test_a_principal_past_its_upstream_connections_gets_a_clear_error_and_others_are_unaffected(
    start_gateway, tmp_path
) -> None:
    from tests.conftest import probe_upstream

    gateway = start_gateway(
        probe_upstream("one") + demo(tmp_path / "demo.db"), extra="[limits]\nmax_upstream_links_per_principal = 1\n"
    )
    async with http_client(gateway.url, TOKEN) as a, http_client(gateway.url, OTHER_TOKEN) as b:
        assert text_of(await a.call_tool("one__echo", {"text": "hi"})) == "hi"
        with pytest.raises(MCPError, match="max_upstream_links_per_principal"):
            await a.call_tool("demo__list_customers", {})
        assert text_of(await a.call_tool("one__echo", {"text": "again"})) == "again"  # its open link still serves
        assert not (await b.call_tool("demo__list_customers", {})).is_error
