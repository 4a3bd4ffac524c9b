"""The ledger of a real gateway process: crash recovery, and the story a ledger tells."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import anyio
import pytest

from gateway.ledger.entry import EntryKind
from tests.conftest import ALLOW_ALL, PYTHON, ROOT, TOKEN, probe_upstream
from tests.e2e.helpers import http_client
from tests.e2e.recorded import recorded_kinds

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def rollgate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


async def test_a_gateway_killed_mid_call_leaves_a_verifiable_ledger_and_an_unknown_outcome(
    start_gateway, tmp_path
) -> None:
    gateway = start_gateway(probe_upstream())
    config = next(tmp_path.glob("rollgate-*.toml"))

    async def call_that_hangs() -> None:
        async with http_client(gateway.url, TOKEN) as client:
            await client.call_tool("probe__sleep", {"seconds": 30})

    async with anyio.create_task_group() as tg:
        tg.start_soon(call_that_hangs)
        with anyio.fail_after(20):
            while "probe/sleep" not in rollgate(config, "ledger", "show").stdout:
                await anyio.sleep(0.2)
        gateway.process.send_signal(signal.SIGKILL)
        gateway.process.wait()
        tg.cancel_scope.cancel()

    start_gateway(probe_upstream())  # a new gateway process on the same state directory
    shown = rollgate(config, "ledger", "show").stdout
    verified = rollgate(config, "ledger", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "OUTCOME UNKNOWN: probe/sleep" in shown
    assert "1 call(s) with unknown outcome" in shown


async def test_the_ledger_tells_who_asked_what_the_policy_said_and_what_happened(start_gateway, tmp_path) -> None:
    from tests.conftest import DEFAULT_POLICIES

    db = tmp_path / "demo.db"
    gateway = start_gateway(
        f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n',
        policies=DEFAULT_POLICIES,
    )
    async with http_client(gateway.url, TOKEN) as client:
        meta = {"rollgate/workflow": "wf-story", "rollgate/step": "1"}
        await client.call_tool("demo__create_customer", {"name": "Ada", "email": "ada@example.com"}, meta=meta)
        await client.call_tool(
            "demo__send_email",
            {"to": "a@example.com", "subject": "s", "body": "b"},
            meta={**meta, "rollgate/step": "2"},
        )
    config = next(tmp_path.glob("rollgate-*.toml"))
    story = rollgate(config, "ledger", "show", "--workflow", "wf-story").stdout.splitlines()
    assert len(story) == 4, story
    assert "agent-one asked to run demo/create_customer (workflow wf-story, step 1)" in story[0]
    assert "policy said allow" in story[0] and "Undo: delete_customer" in story[0]
    assert "demo/create_customer for agent-one finished: ok" in story[1]
    assert "(demo/send_email for agent-one) requested: needs 1 more of role 'approver'" in story[2]
    assert "demo/send_email (workflow wf-story, step 2) is held for approval apr_" in story[3]
    assert "policy said require_approval" in story[3]
    assert {
        EntryKind.KEY_ROTATED,
        EntryKind.GATEWAY_START,
        EntryKind.POLICY_RELOAD,
        EntryKind.CALL_INTENT,
        EntryKind.CALL_RESULT,
        EntryKind.CALL_HELD,
        EntryKind.APPROVAL_REQUESTED,
    } <= recorded_kinds(tmp_path / "state")
    export = tmp_path / "export.jsonl"
    assert rollgate(config, "ledger", "checkpoint").returncode == 0  # beside the running gateway
    rotation = rollgate(config, "ledger", "rotate-key")  # would append to the chain the gateway owns
    assert rotation.returncode == 2 and "cannot rotate the key now" in rotation.stderr, rotation.stderr
    same_port = rollgate(config, "serve")
    assert same_port.returncode == 2 and "cannot listen on 127.0.0.1:" in same_port.stderr, same_port.stderr
    second = subprocess.run(  # a second gateway on the same ledger would fork its hash chain
        [PYTHON, "-m", "gateway", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "ROLLGATE_SERVER__PORT": "0"},
    )
    assert second.returncode == 2 and "another process" in second.stderr, second.stderr
    assert rollgate(config, "ledger", "export", "--out", str(export)).returncode == 0
    public = tmp_path / "ledger.pub"
    public.write_text(rollgate(config, "ledger", "public-key").stdout.split("# note")[0])
    offline = rollgate(config, "ledger", "verify", "--export", str(export), "--public-key", str(public))
    assert offline.returncode == 0 and offline.stdout.startswith("OK:"), offline.stderr


async def test_a_gateway_keeps_its_ledger_in_postgresql_when_configured(start_gateway, tmp_path, postgres_url) -> None:
    gateway = start_gateway(probe_upstream(), extra=f'[ledger]\nurl = "{postgres_url}"\n')
    config = next(tmp_path.glob("rollgate-*.toml"))
    async with http_client(gateway.url, TOKEN) as client:
        await client.call_tool("probe__echo", {"text": "stored in postgres"}, meta={"rollgate/workflow": "wf-pg"})
    shown = rollgate(config, "ledger", "show", "--workflow", "wf-pg")
    assert "agent-one asked to run probe/echo (workflow wf-pg)" in shown.stdout, shown.stderr
    assert "probe/echo for agent-one finished: ok" in shown.stdout
    assert rollgate(config, "ledger", "checkpoint").returncode == 0
    verified = rollgate(config, "ledger", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("OK:"), verified.stderr
    assert not (tmp_path / "state" / "ledger.db").exists()  # nothing went to the SQLite default
    rotation = rollgate(config, "ledger", "rotate-key")
    assert rotation.returncode == 2 and "another process" in rotation.stderr, rotation.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_a_gateway_stopped_by_a_signal_records_its_stop_and_signs_a_last_checkpoint(
    start_gateway, tmp_path, stop: signal.Signals
) -> None:
    gateway = start_gateway(probe_upstream())
    config = next(tmp_path.glob("rollgate-*.toml"))
    async with http_client(gateway.url, TOKEN) as client:
        await client.call_tool("probe__echo", {"text": "hi"})
    gateway.process.send_signal(stop)
    assert gateway.process.wait(timeout=30) == 0
    shown = rollgate(config, "ledger", "show").stdout
    verified = rollgate(config, "ledger", "verify")
    assert shown.rstrip().endswith("gateway stopped"), shown
    assert verified.returncode == 0, verified.stderr
    entries = int(verified.stdout.split("OK: ")[1].split()[0])
    with sqlite3.connect(tmp_path / "state" / "ledger.db") as db:
        assert db.execute("SELECT max(size) FROM checkpoints").fetchone() == (entries,)  # signed at stop


async def test_a_stdio_gateway_stopped_by_sigterm_records_its_stop(tmp_path) -> None:
    config = tmp_path / "rollgate.toml"
    config.write_text(f'[paths]\nstate_dir = "{tmp_path / "state"}"\npolicies = "{ALLOW_ALL}"\n{probe_upstream()}')
    process = subprocess.Popen(
        [PYTHON, "-m", "gateway", "--config", str(config), "stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        with anyio.fail_after(30):
            while "started" not in rollgate(config, "ledger", "show").stdout:
                await anyio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
    assert rollgate(config, "ledger", "show").stdout.rstrip().endswith("gateway stopped")


@pytest.mark.parametrize("when", ["before_answer", "before_forward"])
async def test_every_answered_call_has_its_intent_on_record_first_whenever_a_read_is_written(
    start_gateway, tmp_path, when: str
) -> None:
    from tests.conftest import DEFAULT_POLICIES
    from tests.e2e.test_approvals import demo

    gateway = start_gateway(
        demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES, extra=f'[ledger]\nread_only_intents = "{when}"\n'
    )
    meta = {"rollgate/workflow": f"wf-{when}"}
    async with http_client(gateway.url, TOKEN) as client:
        created = await client.call_tool("demo__create_customer", {"name": "Ada", "email": "a@example.com"}, meta=meta)
        assert not created.is_error
        for _ in range(3):  # declared read_only in tool_manifests/demo.yaml
            listed = await client.call_tool("demo__list_customers", {}, meta=meta)
            assert not listed.is_error and "Ada" in str(listed.structured_content)
    database = tmp_path / "state" / "ledger.db"
    with anyio.fail_after(10):
        while True:  # the index follows the journal within 50 ms
            with sqlite3.connect(database) as db:
                rows = db.execute(
                    "SELECT seq, kind, correlation, body FROM ledger WHERE workflow = ? ORDER BY seq",
                    (meta["rollgate/workflow"],),
                ).fetchall()
            if len(rows) == 8:
                break
            await anyio.sleep(0.05)
    intents = {correlation: seq for seq, kind, correlation, _ in rows if kind == "call.intent"}
    results = [(seq, correlation, body) for seq, kind, correlation, body in rows if kind == "call.result"]
    assert len(intents) == len(results) == 4
    for seq, correlation, body in results:
        assert intents[correlation] < seq and f'"intent_seq":{intents[correlation]}' in body.decode()
    verified = rollgate(next(tmp_path.glob("rollgate-*.toml")), "ledger", "verify")
    assert verified.returncode == 0, verified.stderr
