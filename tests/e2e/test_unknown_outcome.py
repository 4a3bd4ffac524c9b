"""Outcomes the gateway did not see are recorded as unknown, and a rollback settles them first.

The demo bank is really paused (SIGSTOP) past the upstream's timeout while a `create_customer` is
on its way; then it either resumes (the customer is made after the gateway gave up) or is killed
(it never is). The rollback reads whether the call took effect (the manifest's reconcile read)
and compensates only if it did; neither case is escalated.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import DEFAULT_POLICIES, PYTHON, ROOT, TOKEN
from tests.e2e.helpers import http_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def demo_pids(db: Path) -> set[int]:
    found = subprocess.run(["pgrep", "-f", f"examples.demo_server --db {db}"], capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}


def customers(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return [email for (email,) in connection.execute("SELECT email FROM customers")]


def ledger_kinds(config: Path, workflow: str) -> list[dict[str, Any]]:
    with sqlite3.connect(config.parent / "state" / "ledger.db") as connection:
        rows = connection.execute("SELECT body FROM ledger ORDER BY seq").fetchall()
    documents = [json.loads(body) for (body,) in rows]
    return [d for d in documents if d["data"].get("workflow") == workflow]


@pytest.mark.parametrize("upstream_then", ["resumes", "dies"])
async def test_a_call_that_timed_out_is_unknown_and_the_rollback_settles_it(
    start_gateway: Any, tmp_path: Path, upstream_then: str
) -> None:
    db = tmp_path / "demo.db"
    upstream = (
        f'[[upstreams]]\nname = "demo"\ncommand = "python"\n'
        f'args = ["-m", "examples.demo_server", "--db", "{db}"]\ntimeout_seconds = 1.0\n'
    )
    gateway = start_gateway(upstream, policies=DEFAULT_POLICIES)
    config = next(tmp_path.glob("rollgate-*.toml"))
    workflow = f"wf-unknown-{upstream_then}"
    meta = {"rollgate/workflow": workflow}
    shared = demo_pids(db)  # the gateway's own link (reads for rollbacks go through it)
    async with http_client(gateway.url, TOKEN) as client:
        await client.call_tool("demo__list_customers", {}, meta=meta)  # starts this session's link
        (session_pid,) = demo_pids(db) - shared
        os.kill(session_pid, signal.SIGSTOP)
        try:
            with anyio.fail_after(30), pytest.raises(MCPError, match="outcome is unknown"):
                await client.call_tool("demo__create_customer", {"name": "Ada", "email": "ada@example.com"}, meta=meta)
        finally:
            if upstream_then == "resumes":
                os.kill(session_pid, signal.SIGCONT)
            else:
                os.kill(session_pid, signal.SIGKILL)
        if upstream_then == "resumes":  # the bank makes the customer after the gateway gave up
            deadline = time.monotonic() + 15
            while not customers(db) and time.monotonic() < deadline:
                await anyio.sleep(0.1)
            assert customers(db) == ["ada@example.com"]
        else:
            await anyio.sleep(0.5)
            assert customers(db) == []

        status = (await client.call_tool("rollgate_status", {"workflow_id": workflow})).structured_content
        assert [s["status"] for s in status["steps"]] == ["unknown"], status
        report = (await client.call_tool("rollgate_rollback", {"workflow_id": workflow})).structured_content

    (step,) = [s["step"] for s in status["steps"]]
    assert customers(db) == []
    assert report["escalated"] == [] and report["failed"] == [], report
    if upstream_then == "resumes":
        assert report["compensated"] == [step] and report["not_applied"] == []
    else:
        assert report["compensated"] == [] and report["not_applied"] == [step]
    assert report["status"] == "rolled_back"

    gateway.process.send_signal(signal.SIGTERM)  # (its index then holds every entry)
    assert gateway.process.wait(timeout=30) == 0
    entries = ledger_kinds(config, workflow)
    kinds = [e["kind"] for e in entries]
    create = next(e for e in entries if e["kind"] == "call.intent" and e["data"]["tool"] == "demo/create_customer")
    outcomes = [e for e in entries if e["data"].get("correlation_id") == create["data"]["correlation_id"]]
    assert [e["kind"] for e in outcomes] == ["call.intent", "call.outcome_unknown"]  # never "error"
    reconciled = next(e for e in entries if e["kind"] == "step.reconciled")
    assert reconciled["data"]["took_effect"] is (upstream_then == "resumes")
    reads = [e["data"]["tool"] for e in entries if e["kind"] == "call.intent"]
    assert "demo/find_customer" in reads  # the reconcile read is on record like any call
    assert ("compensation" in kinds) is (upstream_then == "resumes")

    verify = subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), "ledger", "verify"], cwd=ROOT, capture_output=True
    )
    assert verify.returncode == 0, verify.stderr
