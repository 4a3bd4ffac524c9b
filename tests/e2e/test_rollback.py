"""Rollback end to end: the demo bank's five-step workflow, partial rollback, flaky compensations."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from gateway.ledger.entry import EntryKind
from tests.conftest import DEFAULT_POLICIES, PYTHON, ROOT, TOKEN, probe_upstream
from tests.e2e.helpers import decision_of, http_client, text_of
from tests.e2e.recorded import recorded_kinds
from tests.e2e.test_approvals import demo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
KV_MANIFESTS = ROOT / "tests" / "fixtures" / "manifests"


def snapshot_db(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        return {
            "customers": sorted(conn.execute("SELECT id, name, email FROM customers").fetchall()),
            "accounts": sorted(conn.execute("SELECT id, customer_id, balance_cents, status FROM accounts").fetchall()),
            "records": sorted(conn.execute("SELECT key, value FROM records").fetchall()),
            "transfers": sorted(conn.execute("SELECT amount_cents, status FROM transfers").fetchall()),
            "outbox": sorted(conn.execute("SELECT recipient FROM outbox").fetchall()),
        }


async def wait_for_status(client: Any, workflow: str, wanted: str) -> dict[str, Any]:
    status: dict[str, Any] = {}
    with anyio.move_on_after(60):
        while True:
            status = (await client.call_tool("rollgate_status", {"workflow_id": workflow})).structured_content
            if status["status"] == wanted:
                return status
            await anyio.sleep(0.2)
    raise AssertionError(f"workflow {workflow} is not {wanted} after 60 s; its last status: {status}")


async def test_an_atomic_workflow_that_fails_is_rolled_back_and_the_email_escalated(start_gateway, tmp_path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES, approvals="wait_seconds = 0")
    async with http_client(gateway.url, TOKEN) as client:

        async def call(tool: str, meta: dict[str, Any] | None = None, **arguments: Any) -> Any:
            return await client.call_tool(f"demo__{tool}", arguments, meta=meta)

        zed = (await call("create_customer", name="Zed", email="zed@example.com")).structured_content
        target = (await call("open_account", customer_id=zed["id"])).structured_content
        await call("update_record", key="profile", value={"tier": "gold"})
        before = snapshot_db(db)

        begun = await client.call_tool("rollgate_begin_workflow", {"name": "onboarding", "atomic": True})
        workflow = begun.structured_content["workflow_id"]
        meta = {"rollgate/workflow": workflow}
        ada = (await call("create_customer", meta, name="Ada", email="ada@example.com")).structured_content
        source = (
            await call("open_account", meta, customer_id=ada["id"], initial_balance_cents=10_000)
        ).structured_content
        await call("update_record", meta, key="profile", value={"tier": "platinum"})
        # transfer (compensable/high) and send_email (irreversible) need approval under the default policy:
        held = await call(
            "transfer", meta, from_account_id=source["id"], to_account_id=target["id"], amount_cents=2_500
        )
        mail = await call("send_email", meta, to="ada@example.com", subject="Welcome", body="hello")
        async with httpx_approver(gateway) as approver:
            for answer in (held, mail):
                ticket = decision_of(answer)["approval_id"]
                assert (await approver.post(f"/api/approvals/{ticket}/approve", json={})).status_code == 200
        with anyio.fail_after(30):
            while len(snapshot_db(db)["outbox"]) < 1 or not snapshot_db(db)["transfers"]:
                await anyio.sleep(0.2)
        failing = await call("deposit", meta, account_id=source["id"], amount_cents=-5)
        status = await wait_for_status(client, workflow, "quarantined")
        refused = await call("create_customer", meta, name="Eve", email="eve@example.com")
    after = snapshot_db(db)
    assert failing.is_error and "amount must be positive" in text_of(failing)
    assert after["customers"] == before["customers"] and after["accounts"] == before["accounts"]
    assert after["records"] == before["records"]
    assert after["transfers"] == [(2_500, "refunded")]  # the money went back; the refund is on record
    assert after["outbox"] == [("ada@example.com",)]  # e-mail cannot be recalled: escalated
    steps = {s["tool"]: s["status"] for s in status["steps"]}
    assert steps == {
        "demo/create_customer": "compensated",
        "demo/open_account": "compensated",
        "demo/update_record": "compensated",
        "demo/transfer": "compensated",
        "demo/send_email": "irreversible",
    }
    assert refused.is_error and "quarantined" in text_of(refused)
    config = next(tmp_path.glob("rollgate-*.toml"))
    story = subprocess.run(
        [PYTHON, "-m", "gateway", "-c", str(config), "ledger", "show", "--workflow", workflow],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    assert {
        EntryKind.ROLLBACK_STARTED,
        EntryKind.COMPENSATION,
        EntryKind.QUARANTINE,
        EntryKind.ROLLBACK_FINISHED,
        EntryKind.APPROVAL_EXECUTED,
    } <= recorded_kinds(tmp_path / "state")
    order = [line for line in story.splitlines() if "asked to run" in line and "rollgate-rollback" in line]
    undone = [line.split("asked to run ")[1].split(" ")[0] for line in order]
    assert [
        u for u in undone if u in ("demo/update_record", "demo/refund", "demo/close_account", "demo/delete_customer")
    ] == [
        # newest first: the transfer ran (after its approval) after the record update
        "demo/refund",
        "demo/update_record",
        "demo/close_account",
        "demo/delete_customer",
    ]
    pending = subprocess.run(
        [PYTHON, "-m", "gateway", "-c", str(config), "approvals", "list", "--state", "pending"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    assert "demo/send_email" in pending  # the manual-remediation item
    verified = subprocess.run(
        [PYTHON, "-m", "gateway", "-c", str(config), "ledger", "verify"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr


def httpx_approver(gateway: Any) -> Any:
    import httpx

    from tests.conftest import APPROVER_TOKEN

    return httpx.AsyncClient(base_url=gateway.base, headers={"Authorization": f"Bearer {APPROVER_TOKEN}"}, timeout=30)


async def test_a_rollback_by_resource_leaves_the_other_customers_work_untouched(start_gateway, tmp_path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    async with http_client(gateway.url, TOKEN) as client:
        workflow = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        meta = {"rollgate/workflow": workflow}
        ada = (
            await client.call_tool("demo__create_customer", {"name": "Ada", "email": "a@x.io"}, meta=meta)
        ).structured_content
        bob = (
            await client.call_tool("demo__create_customer", {"name": "Bob", "email": "b@x.io"}, meta=meta)
        ).structured_content
        await client.call_tool("demo__open_account", {"customer_id": ada["id"]}, meta=meta)
        await client.call_tool("demo__open_account", {"customer_id": bob["id"]}, meta=meta)
        plan = await client.call_tool(
            "rollgate_rollback", {"resource": f"customer:{ada['id']}", "dry_run": True}, meta=meta
        )
        assert [a["tool"] for a in plan.structured_content["plan"]] == ["demo/open_account", "demo/create_customer"]
        assert snapshot_db(db)["customers"] == sorted([(ada["id"], "Ada", "a@x.io"), (bob["id"], "Bob", "b@x.io")])
        done = await client.call_tool("rollgate_rollback", {"resource": f"customer:{ada['id']}"}, meta=meta)
    assert done.structured_content["compensated"] and not done.structured_content["failed"]
    state = snapshot_db(db)
    assert state["customers"] == [(bob["id"], "Bob", "b@x.io")]
    assert [(a[1], a[3]) for a in state["accounts"]] == [(bob["id"], "open")]


async def test_a_compensation_that_answers_an_error_is_escalated_and_resent_only_because_idempotent(
    start_gateway, tmp_path
) -> None:
    """It reached the upstream, which may have done part of it: a person is told, nothing is retried
    in the same rollback. The manifest declares kv_undo idempotent, so the operator's next rollback
    sends it again. (A non-idempotent one is never re-sent, and tries that never left the gateway
    are retried: tests/unit/saga/test_rollback.py.)"""
    store = tmp_path / "kv.json"
    gateway = start_gateway(probe_upstream(), policies=DEFAULT_POLICIES, manifests=KV_MANIFESTS)
    async with http_client(gateway.url, TOKEN) as client:
        flaky = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        await client.call_tool(
            "probe__kv_set",
            {"path": str(store), "key": "a", "value": "1", "undo_failures": 1, "undo_delay": 0},
            meta={"rollgate/workflow": flaky},
        )
        first = await client.call_tool("rollgate_rollback", {"workflow_id": flaky})
        attempts_after_first = Path(str(store) + ".attempts").read_text()
        again = await client.call_tool("rollgate_rollback", {"workflow_id": flaky})  # an operator asks again
    assert first.structured_content["failed"] and first.structured_content["status"] == "quarantined"
    assert "answered an error" in first.structured_content["failed"][0]["error"] and attempts_after_first == "1"
    assert again.structured_content["compensated"] == [first.structured_content["failed"][0]["step"]]
    assert json.loads(store.read_text()) == {} and Path(str(store) + ".attempts").read_text() == "2"


async def test_idempotent_retries_run_once_and_a_reused_key_with_other_arguments_is_refused(start_gateway, tmp_path):
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=DEFAULT_POLICIES)
    async with http_client(gateway.url, TOKEN) as client:
        meta = {"rollgate/workflow": "wf-idem", "rollgate/idempotency_key": "signup-ada"}
        results = []

        async def create() -> None:
            results.append(
                await client.call_tool("demo__create_customer", {"name": "Ada", "email": "a@x.io"}, meta=meta)
            )

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(create)
        from mcp.shared.exceptions import MCPError

        with pytest.raises(MCPError, match="with other arguments"):
            await client.call_tool("demo__create_customer", {"name": "Eve", "email": "e@x.io"}, meta=meta)
    assert len({r.structured_content["id"] for r in results}) == 1
    assert len(snapshot_db(db)["customers"]) == 1


async def test_rollback_to_a_checkpoint_from_the_cli_returns_the_agents_state_and_quarantine_is_released(
    start_gateway, tmp_path
) -> None:
    from tests.conftest import APPROVER_TOKEN

    store = tmp_path / "kv.json"
    gateway = start_gateway(probe_upstream(), policies=DEFAULT_POLICIES, manifests=KV_MANIFESTS)
    config = next(tmp_path.glob("rollgate-*.toml"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, "-m", "gateway", "-c", str(config), *args, "--token", APPROVER_TOKEN]
            if args[0] in ("quarantine",) or (args[0] == "rollback" and "--dry-run" not in args)
            else [PYTHON, "-m", "gateway", "-c", str(config), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )

    async with http_client(gateway.url, TOKEN) as client:
        workflow = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        meta = {"rollgate/workflow": workflow}

        async def kv(key: str, value: str) -> None:
            result = await client.call_tool(
                "probe__kv_set",
                {"path": str(store), "key": key, "value": value, "undo_failures": 0, "undo_delay": 0},
                meta=meta,
            )
            assert not result.is_error

        await kv("a", "1")
        await client.call_tool("rollgate_checkpoint", {"label": "after-a", "state": {"cursor": 7}}, meta=meta)
        await kv("b", "2")
        await kv("c", "3")
        planned = cli("rollback", workflow, "--to-checkpoint", "after-a", "--dry-run")
        assert planned.returncode == 0 and "UNDO    step 3 probe/kv_set" in planned.stdout
        assert json.loads(store.read_text()) == {"a": "1", "b": "2", "c": "3"}
        done = cli("rollback", workflow, "--to-checkpoint", "after-a")
        report = json.loads(done.stdout)
        assert done.returncode == 0 and report["checkpoint_state"] == {"cursor": 7}
        assert json.loads(store.read_text()) == {"a": "1"}
        assert cli("quarantine", workflow, "--reason", "investigating").returncode == 0
        refused = await client.call_tool("probe__kv_get", {"path": str(store), "key": "a"}, meta=meta)
        assert refused.is_error and "investigating" in text_of(refused)
        assert cli("quarantine", workflow, "--release").returncode == 0
        allowed = await client.call_tool("probe__kv_get", {"path": str(store), "key": "a"}, meta=meta)
    assert not allowed.is_error and allowed.structured_content["value"] == "1"


async def test_a_gateway_killed_during_a_rollback_resumes_it_without_compensating_anything_twice(
    start_gateway, tmp_path
) -> None:
    import signal

    import httpx

    from tests.conftest import APPROVER_TOKEN

    paths = [tmp_path / f"kv{n}.json" for n in range(3)]
    gateway = start_gateway(probe_upstream(), policies=DEFAULT_POLICIES, manifests=KV_MANIFESTS)
    async with http_client(gateway.url, TOKEN) as client:
        workflow = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        for n, path in enumerate(paths):
            result = await client.call_tool(
                "probe__kv_set",
                {"path": str(path), "key": "k", "value": str(n), "undo_failures": 0, "undo_delay": 1.0},
                meta={"rollgate/workflow": workflow},
            )
            assert not result.is_error

    async def start_rollback() -> None:
        async with httpx.AsyncClient(
            base_url=gateway.base, timeout=60, headers={"Authorization": f"Bearer {APPROVER_TOKEN}"}
        ) as api:
            with contextlib.suppress(httpx.HTTPError):  # the gateway is killed under it
                await api.post(f"/api/workflows/{workflow}/rollback", json={})

    async with anyio.create_task_group() as tg:
        tg.start_soon(start_rollback)
        with anyio.fail_after(30):
            while json.loads(paths[2].read_text()) != {}:  # the newest step is undone first
                await anyio.sleep(0.05)
        gateway.process.send_signal(signal.SIGKILL)
        gateway.process.wait()
        tg.cancel_scope.cancel()
    restarted = start_gateway(probe_upstream(), policies=DEFAULT_POLICIES, manifests=KV_MANIFESTS)
    async with http_client(restarted.url, TOKEN) as client:
        status = await wait_for_status(client, workflow, "rolled_back")
    assert [s["status"] for s in status["steps"]] == ["compensated"] * 3
    assert [json.loads(p.read_text()) for p in paths] == [{}, {}, {}]
    assert [Path(str(p) + ".attempts").read_text() for p in paths] == ["1", "1", "1"]


async def test_a_policy_obligation_quarantines_a_workflow_on_a_low_confidence_signal(start_gateway, tmp_path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rego").write_text(
        "package rollgate.policy\nimport rego.v1\n"
        'default decision := {"effect": "allow", "reasons": ["ok"]}\n'
        'decision := {"effect": "allow", "reasons": ["unsure: allowed once, then the workflow is stopped"],'
        ' "obligations": {"quarantine": true}} if {\n'
        '  input.workflow.status != "quarantined"\n'
        "  is_number(input.call.confidence)\n"
        "  input.call.confidence < 0.3\n}\n"
        'decision := {"effect": "deny", "reasons": ["quarantined"]} if input.workflow.status == "quarantined"\n'
    )
    store = tmp_path / "kv.json"
    gateway = start_gateway(probe_upstream(), policies=policies, manifests=KV_MANIFESTS)
    async with http_client(gateway.url, TOKEN) as client:
        meta = {"rollgate/workflow": "wf-unsure", "rollgate/confidence": 0.1}
        first = await client.call_tool(
            "probe__kv_set",
            {"path": str(store), "key": "a", "value": "1", "undo_failures": 0, "undo_delay": 0},
            meta=meta,
        )
        second = await client.call_tool(
            "probe__kv_get", {"path": str(store), "key": "a"}, meta={"rollgate/workflow": "wf-unsure"}
        )
        status = (await client.call_tool("rollgate_status", {"workflow_id": "wf-unsure"})).structured_content
    assert not first.is_error and second.is_error and "quarantined" in text_of(second)
    assert status["status"] == "quarantined" and "policy obligation" in status["reason"]


async def test_a_manifest_can_make_a_failing_tool_roll_its_workflow_back(start_gateway, tmp_path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    source = (KV_MANIFESTS / "probe_kv.yaml").read_text()
    (manifests / "kv.yaml").write_text(
        source + "  - {server: probe, tool: fail, reversibility: irreversible, impact: low, atomic: true}\n"
    )
    store = tmp_path / "kv.json"
    gateway = start_gateway(probe_upstream(), policies=DEFAULT_POLICIES, manifests=manifests)
    async with http_client(gateway.url, TOKEN) as client:
        meta = {"rollgate/workflow": "wf-atomic"}
        await client.call_tool(
            "probe__kv_set",
            {"path": str(store), "key": "a", "value": "1", "undo_failures": 0, "undo_delay": 0},
            meta=meta,
        )
        failed = await client.call_tool("probe__fail", {"message": "boom"}, meta=meta)
        status = await wait_for_status(client, "wf-atomic", "rolled_back")
    assert failed.is_error and json.loads(store.read_text()) == {}
    assert [s["status"] for s in status["steps"]] == ["compensated"]
