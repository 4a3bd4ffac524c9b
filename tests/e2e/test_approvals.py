"""Held calls end to end: the demo bank's transfer waits for a person, then runs exactly once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError

from gateway.ledger.entry import EntryKind
from tests.conftest import APPROVER_TOKEN, DEFAULT_POLICIES, OTHER_TOKEN, PYTHON, ROOT, TOKEN, TREASURY_TOKENS
from tests.e2e.helpers import decision_of, end_user_policies, http_client, text_of
from tests.e2e.recorded import recorded_kinds

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def demo(db: Path) -> str:
    return f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n'


async def funded_accounts(client: Any, target_cents: int = 0) -> tuple[str, str]:
    """(source, target): Ada's account with 10000 cents and Bob's with `target_cents`."""

    async def call(tool: str, **arguments: Any) -> dict[str, Any]:
        result = await client.call_tool(f"demo__{tool}", arguments)
        assert not result.is_error, text_of(result)
        return result.structured_content

    ada = await call("create_customer", name="Ada", email="ada@example.com")
    bob = await call("create_customer", name="Bob", email="bob@example.com")
    source = await call("open_account", customer_id=ada["id"], initial_balance_cents=10_000)
    target = await call("open_account", customer_id=bob["id"], initial_balance_cents=target_cents)
    return source["id"], target["id"]


async def funded_demo(start_gateway: Any, tmp_path: Path, **options: Any) -> tuple[Any, Path, str, str]:
    """(gateway, demo database, source, target): the default policy in front of a fresh demo bank
    with two accounts, the source funded."""
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES, **options)
    async with http_client(gateway.url, TOKEN) as client:
        source, target = await funded_accounts(client)
    return gateway, db, source, target


def api(gateway: Any, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def transfers(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT from_account, to_account, amount_cents, status FROM transfers").fetchall()


async def test_a_held_transfer_runs_once_after_an_approval_over_rest(start_gateway, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES, approvals="wait_seconds = 1.5")
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with http_client(gateway.url, TOKEN) as client, api(gateway, APPROVER_TOKEN) as approver:
        source, target = await funded_accounts(client)
        arguments = {"from_account_id": source, "to_account_id": target, "amount_cents": 2_500}
        held = await client.call_tool("demo__transfer", arguments, progress_callback=on_progress)
        pending = decision_of(held)
        assert held.is_error and pending["status"] == "pending" and pending["effect"] == "require_approval"
        assert progress and progress[0] == f"waiting for approval {pending['approval_id']}"
        retried = await client.call_tool("demo__transfer", arguments)  # the agent retries while it waits
        assert decision_of(retried)["approval_id"] == pending["approval_id"]
        assert transfers(db) == []

        listed = (await approver.get("/api/approvals", params={"state": "pending"})).json()["approvals"]
        assert [t["id"] for t in listed] == [pending["approval_id"]]
        detail = (await approver.get(f"/api/approvals/{pending['approval_id']}")).json()
        assert detail["tool"] == "demo/transfer" and detail["impact"] == "high"
        assert detail["compensation"]["tool"] == "refund" and any("transfer" in line for line in detail["timeline"])
        assert "10000" in json.dumps(detail["snapshot"]), detail["snapshot"]  # the before-image the read took
        approved = await approver.post(f"/api/approvals/{pending['approval_id']}/approve", json={"comment": "ok"})
        assert approved.status_code == 200 and approved.json()["state"] == "approved"

        with anyio.fail_after(20):
            while True:
                status = await client.call_tool("rollgate_approval_status", {"approval_id": pending["approval_id"]})
                if status.structured_content["status"] == "executed":
                    break
                await anyio.sleep(0.2)
        again = await client.call_tool("demo__transfer", arguments)  # the same call, after it ran: its result
        twice = await approver.post(f"/api/approvals/{pending['approval_id']}/approve", json={})
    result = status.structured_content["result"]["structuredContent"]
    assert result["amount_cents"] == 2_500 and result["status"] == "completed"
    assert transfers(db) == [(source, target, 2_500, "completed")]
    assert not again.is_error and again.structured_content == result
    assert twice.status_code == 409
    config = next(tmp_path.glob("rollgate-*.toml"))
    shown = subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), "ledger", "show", "--tool", "demo/transfer"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    assert "before demo/transfer for agent-one" in shown and "get_account read the before-image" in shown
    assert {
        EntryKind.CALL_SNAPSHOT,
        EntryKind.CALL_HELD,
        EntryKind.APPROVAL_REQUESTED,
        EntryKind.APPROVAL_GRANTED,
        EntryKind.APPROVAL_EXECUTED,
    } <= recorded_kinds(tmp_path / "state")


def outbox(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT recipient, subject FROM outbox").fetchall()


@pytest.mark.parametrize("idempotency_key", [None, "mail-to-ada-1"])
async def test_an_approved_email_retried_five_times_is_sent_once(
    start_gateway, tmp_path: Path, idempotency_key: str | None
) -> None:
    """send_email has no idempotency key in its manifest: the held call's digest (principal,
    workflow, tool, arguments) makes the retries the same call, with or without the agent's key."""
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    meta = {"rollgate/idempotency_key": idempotency_key} if idempotency_key else None
    arguments = {"to": "ada@example.com", "subject": "Your statement", "body": "Sent once."}
    async with http_client(gateway.url, TOKEN) as client, api(gateway, APPROVER_TOKEN) as approver:
        held = decision_of(await client.call_tool("demo__send_email", arguments, meta=meta))
        assert held["status"] == "pending", held
        approved = await approver.post(f"/api/approvals/{held['approval_id']}/approve", json={"comment": "ok"})
        assert approved.status_code == 200, approved.text
        with anyio.fail_after(20):
            while (await approver.get(f"/api/approvals/{held['approval_id']}")).json()["state"] != "executed":
                await anyio.sleep(0.1)
        retries = [await client.call_tool("demo__send_email", arguments, meta=meta) for _ in range(5)]
        pending = (await approver.get("/api/approvals", params={"state": "pending"})).json()["approvals"]
    assert len(outbox(db)) == 1
    assert all(not r.is_error for r in retries)
    assert len({json.dumps(r.structured_content, sort_keys=True) for r in retries}) == 1  # the recorded result
    assert pending == []  # no second ticket to approve by mistake


async def test_a_denied_or_expired_transfer_never_runs_and_the_agent_is_told(start_gateway, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES, approvals="wait_seconds = 0.2\nttl_seconds = 2")
    async with http_client(gateway.url, TOKEN) as client, api(gateway, APPROVER_TOKEN) as approver:
        source, target = await funded_accounts(client)
        first = await client.call_tool(
            "demo__transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": 100}
        )
        first_id = decision_of(first)["approval_id"]
        no_reason = await approver.post(f"/api/approvals/{first_id}/deny", json={"reason": ""})
        denied = await approver.post(f"/api/approvals/{first_id}/deny", json={"reason": "not today"})
        second = await client.call_tool(
            "demo__transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": 200}
        )
        second_id = decision_of(second)["approval_id"]
        with anyio.fail_after(20):
            while (await client.call_tool("rollgate_approval_status", {"approval_id": second_id})).structured_content[
                "status"
            ] != "expired":
                await anyio.sleep(0.3)
        first_status = await client.call_tool("rollgate_approval_status", {"approval_id": first_id})
        late = await approver.post(f"/api/approvals/{second_id}/approve", json={})
    assert no_reason.status_code == 422 and denied.status_code == 200
    assert (
        first_status.structured_content["status"] == "denied"
        and first_status.structured_content["reason"] == "not today"
    )
    assert "denied by alice" in text_of(first_status)
    assert late.status_code == 409
    assert transfers(db) == []


async def test_separation_of_duties_roles_counts_and_bad_input_over_rest(start_gateway, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rego").write_text(
        "package rollgate.policy\nimport rego.v1\n"
        'decision := {"effect": "require_approval", "reasons": ["critical"], '
        '"approvers": [{"role": "treasury", "count": 2}]}\n'
    )
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=policies)
    async with http_client(gateway.url, TOKEN) as client:
        held = await client.call_tool("demo__list_customers", {})
        ticket = decision_of(held)["approval_id"]
        with pytest.raises(MCPError, match="no approval 'apr_nope' of yours"):
            await client.call_tool("rollgate_approval_status", {"approval_id": "apr_nope"})
    async with (
        api(gateway, TOKEN) as agent,
        api(gateway, "wrong") as stranger,
        api(gateway, APPROVER_TOKEN) as alice,
        api(gateway, TREASURY_TOKENS[0]) as tom,
        api(gateway, TREASURY_TOKENS[1]) as tess,
    ):
        assert (await stranger.get("/api/approvals")).status_code == 401
        assert (await agent.post(f"/api/approvals/{ticket}/approve", json={})).status_code == 403
        assert (await alice.post(f"/api/approvals/{ticket}/approve", json={})).status_code == 403  # no treasury role
        assert (await tom.get("/api/approvals/apr_unknown")).status_code == 404
        assert (await tom.post(f"/api/approvals/{ticket}/approve", content=b"{not json")).status_code == 422
        assert (await tom.post(f"/api/approvals/{ticket}/approve", json={"surprise": 1})).status_code == 422
        one = await tom.post(f"/api/approvals/{ticket}/approve", json={"comment": "first"})
        assert one.json()["state"] == "pending" and one.json()["awaiting"] == ["1 more of role 'treasury'"]
        assert (await tom.post(f"/api/approvals/{ticket}/approve", json={})).status_code == 409  # twice
        two = await tess.post(f"/api/approvals/{ticket}/approve", json={"comment": "second"})
        assert two.json()["state"] == "approved"
        spec = (await tom.get("/api/openapi.json")).json()
    assert "/api/approvals/{ticket_id}/approve" in spec["paths"] and "TicketView" in spec["components"]["schemas"]


async def test_pending_approvals_survive_a_restart_and_can_be_approved_from_the_cli(start_gateway, tmp_path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    async with http_client(gateway.url, TOKEN) as client:
        source, target = await funded_accounts(client)
        held = await client.call_tool(
            "demo__transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": 700}
        )
    ticket = decision_of(held)["approval_id"]
    gateway.process.kill()
    gateway.process.wait()
    restarted = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    config = next(tmp_path.glob("rollgate-*.toml"))
    listed = subprocess.run(
        [PYTHON, "-m", "gateway", "-c", str(config), "approvals", "list", "--state", "pending"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert ticket in listed.stdout
    as_agent = subprocess.run(
        [PYTHON, "-m", "gateway", "-c", str(config), "approvals", "approve", ticket, "--token", TOKEN],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert as_agent.returncode == 2 and "agent's token" in as_agent.stderr
    approved = subprocess.run(
        [
            PYTHON,
            "-m",
            "gateway",
            "-c",
            str(config),
            "approvals",
            "approve",
            ticket,
            "--comment",
            "after restart",
            "--token",
            APPROVER_TOKEN,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert approved.returncode == 0, approved.stderr
    async with http_client(restarted.url, TOKEN) as client:
        with anyio.fail_after(20):
            while (await client.call_tool("rollgate_approval_status", {"approval_id": ticket})).structured_content[
                "status"
            ] != "executed":
                await anyio.sleep(0.2)
    assert transfers(db) == [(source, target, 700, "completed")]
    shown = subprocess.run(
        [PYTHON, "-m", "gateway", "-c", str(config), "ledger", "show"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    assert "alice approved approval " + ticket in shown and '"after restart"' in shown
    assert f"approval {ticket} (demo/transfer for agent-one) ran" in shown


async def test_fifty_approvals_from_two_processes_with_agent_retries_each_run_exactly_once(
    start_gateway, tmp_path: Path
) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES, approvals="wait_seconds = 0")
    async with http_client(gateway.url, TOKEN) as client:
        source, target = await funded_accounts(client)
        tickets = []
        for n in range(50):
            held = await client.call_tool(
                "demo__transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": n + 1}
            )
            tickets.append(decision_of(held)["approval_id"])
    config = next(tmp_path.glob("rollgate-*.toml"))
    script = (
        "import sys\nfrom pathlib import Path\nfrom gateway.config import load_config\n"
        "from gateway.cli.approvals import decide\nconfig = load_config(Path(sys.argv[1]))\n"
        "for ticket in sys.argv[3:]:\n    decide(config, ticket, sys.argv[2], approved=True, text='bulk')\n"
    )
    processes = [
        subprocess.Popen(
            [PYTHON, "-c", script, str(config), token, *tickets],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for token in (APPROVER_TOKEN, TREASURY_TOKENS[0])
    ]

    async def agent_retries(token: str) -> None:
        async with http_client(gateway.url, token) as other:
            for n in range(50):
                await other.call_tool(
                    "demo__transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": n + 1}
                )

    async with anyio.create_task_group() as tg:
        tg.start_soon(agent_retries, TOKEN)
        tg.start_soon(agent_retries, OTHER_TOKEN)  # another agent's identical calls are its own tickets
    for process in processes:
        assert process.wait(timeout=120) == 0
    async with http_client(gateway.url, TOKEN) as client:
        with anyio.fail_after(60):
            while True:
                states = [
                    (await client.call_tool("rollgate_approval_status", {"approval_id": t})).structured_content[
                        "status"
                    ]
                    for t in tickets
                ]
                if all(s == "executed" for s in states):
                    break
                await anyio.sleep(0.5)
    amounts = sorted(row[2] for row in transfers(db))
    assert amounts == list(range(1, 51))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_when_policy_names_the_end_user_the_client_is_asked_by_elicitation(
    start_gateway, tmp_path, mode: str
) -> None:
    """Legacy sessions get an elicitation request during the call; 2026-07-28 clients get an
    `input_required` result and retry with the user's answer (the SDK client drives the rounds)."""
    from tests.e2e.helpers import Recorder

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rego").write_text(
        "package rollgate.policy\nimport rego.v1\n"
        'decision := {"effect": "allow", "reasons": ["reads"]} if input.tool.manifest.reversibility == "read_only"\n'
        'decision := {"effect": "require_approval", "reasons": ["your call"], "approvers": [{"role": "end_user"}]}'
        ' if input.tool.manifest.reversibility != "read_only"\n'
    )
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=policies, approvals="wait_seconds = 10")

    class Yes(Recorder):
        async def elicitation(self, ctx: Any, params: Any) -> Any:
            import mcp_types as types

            self.elicited.append(params.message)
            return types.ElicitResult(action="accept", content={"approve": self.tag == "yes", "comment": self.tag})

    yes, no = Yes("yes"), Yes("no")
    async with http_client(gateway.url, TOKEN, yes, mode=mode) as client:
        created = await client.call_tool("demo__create_customer", {"name": "Ada", "email": "ada@example.com"})
    async with http_client(gateway.url, TOKEN, no, mode=mode) as client:
        refused = await client.call_tool("demo__create_customer", {"name": "Bob", "email": "bob@example.com"})
    assert not created.is_error and created.structured_content["name"] == "Ada"
    assert "agent-one wants to run demo/create_customer" in yes.elicited[0] and "your call" in yes.elicited[0]
    assert refused.is_error and decision_of(refused)["status"] == "denied"
    with sqlite3.connect(db) as conn:
        assert [row[0] for row in conn.execute("SELECT name FROM customers")] == ["Ada"]


async def test_a_2026_client_cannot_answer_for_its_user_without_the_state_the_gateway_sealed(
    start_gateway, tmp_path
) -> None:
    from tests.e2e.helpers import RawSession

    policies = end_user_policies(tmp_path)
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=policies)
    yes = {"rollgate/approval": {"action": "accept", "content": {"approve": True}}}
    call = {"name": "demo__create_customer", "arguments": {"name": "Eve", "email": "eve@example.com"}}
    async with httpx.AsyncClient(timeout=30) as http:
        client = RawSession(http, gateway.url, TOKEN, capabilities={"elicitation": {}})
        asked = (await client.request("tools/call", call))["result"]
        unasked = (await client.request("tools/call", {**call, "inputResponses": yes}))["result"]
        forged = await client.request("tools/call", {**call, "inputResponses": yes, "requestState": "apr_guess"})
        moved = await client.request(
            "tools/call",
            {
                **call,
                "arguments": {"name": "Mallory", "email": "m@example.com"},
                "inputResponses": yes,
                "requestState": asked["requestState"],
            },
        )
        stranger = RawSession(http, gateway.url, OTHER_TOKEN, capabilities={"elicitation": {}})
        stolen = await stranger.request(
            "tools/call", {**call, "inputResponses": yes, "requestState": asked["requestState"]}
        )
        no_elicitation = RawSession(http, gateway.url, TOKEN, capabilities={})
        queued = (await no_elicitation.request("tools/call", call))["result"]
    assert asked["resultType"] == "input_required" and not asked["requestState"].startswith("apr_")  # sealed
    question = asked["inputRequests"]["rollgate/approval"]
    assert question["method"] == "elicitation/create" and "your call" in question["params"]["message"]
    assert unasked["resultType"] == "input_required"  # an answer with no sealed state is not an answer
    for refused in (forged, moved, stolen):
        assert refused["error"]["code"] == -32602, refused
    assert decision_of(queued)["status"] == "pending"  # no way to ask the user: the queue decides
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (0,)
