"""Rollback scopes are exact on every surface: the CLI, REST and the `rollgate_rollback` meta-tool undo
the steps named and no other, and a workflow, step, checkpoint or resource that was never recorded
is refused (404, exit status 1, an MCP error) with nothing undone and nothing recorded of it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import APPROVER_TOKEN, DEFAULT_POLICIES, OTHER_TOKEN, PYTHON, ROOT, TOKEN, probe_upstream
from tests.e2e.helpers import http_client
from tests.e2e.test_confinement import ledger
from tests.e2e.test_rollback import KV_MANIFESTS, httpx_approver

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = next(tmp_path.glob("rollgate-*.toml"))
    return subprocess.run(
        [PYTHON, "-m", "gateway", "-c", str(config), *args, "--token", APPROVER_TOKEN],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


async def kv_workflow(client: Any, store: Path, keys: str) -> tuple[str, list[int]]:
    """A workflow of one `kv_set` per key (in order), and its step numbers."""
    workflow = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
    for key in keys:
        arguments = {"path": str(store), "key": key, "value": key, "undo_failures": 0, "undo_delay": 0}
        done = await client.call_tool("probe__kv_set", arguments, meta={"rollgate/workflow": workflow})
        assert not done.is_error
    status = (await client.call_tool("rollgate_status", {"workflow_id": workflow})).structured_content
    return workflow, [s["step"] for s in status["steps"]]


def start(start_gateway: Any) -> Any:
    return start_gateway(probe_upstream(), policies=DEFAULT_POLICIES, manifests=KV_MANIFESTS)


async def test_a_rollback_by_steps_undoes_only_those_steps_on_the_cli_rest_and_meta_tool(
    start_gateway, tmp_path
) -> None:
    store = tmp_path / "kv.json"
    gateway = start(start_gateway)
    async with http_client(gateway.url, TOKEN) as agent, httpx_approver(gateway) as operator:
        workflow, (a, b, c, d) = await kv_workflow(agent, store, "abcd")
        planned = cli(tmp_path, "rollback", workflow, "--steps", str(a), "--dry-run")
        assert planned.returncode == 0 and planned.stdout.startswith(f"UNDO    step {a} probe/kv_set")
        by_cli = cli(tmp_path, "rollback", workflow, "--steps", str(a))
        assert by_cli.returncode == 0 and json.loads(by_cli.stdout)["compensated"] == [a], by_cli.stderr
        assert json.loads(store.read_text()) == {"b": "b", "c": "c", "d": "d"}
        by_rest = await operator.post(f"/api/workflows/{workflow}/rollback", json={"steps": [b]})
        assert by_rest.status_code == 200 and by_rest.json()["compensated"] == [b]
        assert json.loads(store.read_text()) == {"c": "c", "d": "d"}
        by_tool = await agent.call_tool("rollgate_rollback", {"workflow_id": workflow, "steps": [c]})
        assert not by_tool.is_error and by_tool.structured_content["compensated"] == [c]
        again = await operator.post(f"/api/workflows/{workflow}/rollback", json={"steps": [c]})
        status = (await operator.get(f"/api/workflows/{workflow}")).json()
    assert again.status_code == 200 and again.json()["plan"] == []  # already undone: nothing left to do
    assert json.loads(store.read_text()) == {"d": "d"}
    assert [s["status"] for s in status["steps"]] == ["compensated"] * 3 + ["done"]
    assert status["status"] == "active"


async def test_an_unknown_workflow_step_checkpoint_or_resource_is_refused_on_every_surface(
    start_gateway, tmp_path
) -> None:
    store = tmp_path / "kv.json"
    gateway = start(start_gateway)
    async with http_client(gateway.url, TOKEN) as agent, httpx_approver(gateway) as operator:
        workflow, steps = await kv_workflow(agent, store, "ab")
        unknown = {"steps": [max(steps) + 40]}
        for path, body, named in (
            ("/api/workflows/wf_nonexistent/rollback", {}, "no workflow 'wf_nonexistent'"),
            ("/api/workflows/wf_nonexistent/rollback", {"steps": [1]}, "no workflow 'wf_nonexistent'"),
            ("/api/workflows/wf_nonexistent/quarantine", {"reason": "typo"}, "no workflow 'wf_nonexistent'"),
            ("/api/workflows/wf_nonexistent/release", {}, "no workflow 'wf_nonexistent'"),
            (f"/api/workflows/{workflow}/rollback", unknown, f"no step {max(steps) + 40} "),
            (f"/api/workflows/{workflow}/rollback", {"to_checkpoint": "nope"}, "no checkpoint 'nope'"),
            (f"/api/workflows/{workflow}/rollback", {"resource": "kv:zz"}, "touches resource 'kv:zz'"),
            ("/api/agents/agent-typo/quarantine", {"reason": "typo"}, "no agent 'agent-typo'"),
        ):
            answer = await operator.post(path, json=body)
            assert answer.status_code == 404 and named in answer.json()["error"], (path, answer.text)
        shown = await operator.get("/api/workflows/wf_nonexistent")
        assert shown.status_code == 404  # refusing it recorded nothing of it
        mixed = await operator.post(f"/api/workflows/{workflow}/rollback", json={"steps": [1], "resource": "kv:a"})
        assert mixed.status_code == 422 and "at most one" in mixed.json()["error"]

        for arguments, named in (
            ({"workflow_id": "wf_nonexistent"}, "no workflow 'wf_nonexistent'"),
            ({"workflow_id": workflow, **unknown}, f"no step {max(steps) + 40} "),
            ({"workflow_id": workflow, "to_checkpoint": "nope"}, "no checkpoint 'nope'"),
        ):
            with pytest.raises(MCPError, match=named) as refused:
                await agent.call_tool("rollgate_rollback", arguments)
            assert refused.value.error.code == -32602

    for args, status, named in (
        (("rollback", "wf_nonexistent"), 1, "no workflow 'wf_nonexistent'"),
        (("rollback", "wf_nonexistent", "--dry-run"), 1, "no workflow 'wf_nonexistent'"),
        (("rollback", workflow, "--steps", str(max(steps) + 40)), 1, f"no step {max(steps) + 40} "),
        (("rollback", workflow, "--steps", str(max(steps) + 40), "--dry-run"), 1, f"no step {max(steps) + 40} "),
        (("rollback", workflow, "--steps", "2,x"), 2, "'2,x' is not a list of step numbers"),
        (("rollback", workflow, "--steps", "1", "--resource", "kv:a"), 2, "at most one"),
    ):
        done = cli(tmp_path, *args)
        assert done.returncode == status and named in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stdout == ""
        if status == 1:
            assert done.stderr.count("\n") == 1  # one line
    assert json.loads(store.read_text()) == {"a": "a", "b": "b"}  # nothing was undone
    refused = [e["data"]["error"] for e in ledger(tmp_path / "state", "call.refused")]
    assert sum("no workflow 'wf_nonexistent'" in r for r in refused) == 1 and len(refused) == 3


async def test_another_agent_cannot_roll_back_steps_by_naming_their_numbers(start_gateway, tmp_path) -> None:
    store = tmp_path / "kv.json"
    gateway = start(start_gateway)
    async with http_client(gateway.url, TOKEN) as a, http_client(gateway.url, OTHER_TOKEN) as b:
        workflow, steps = await kv_workflow(a, store, "ab")
        own, _ = await kv_workflow(b, tmp_path / "b.json", "z")
        with pytest.raises(MCPError, match=f"no step {steps[0]}[ ,]"):  # A's numbers are not steps of B's workflow
            await b.call_tool("rollgate_rollback", {"workflow_id": own, "steps": steps})
        with pytest.raises(MCPError, match="belongs to another principal"):
            await b.call_tool("rollgate_rollback", {"workflow_id": workflow, "steps": steps})
        status = (await a.call_tool("rollgate_status", {"workflow_id": workflow})).structured_content
    assert json.loads(store.read_text()) == {"a": "a", "b": "b"}
    assert [s["status"] for s in status["steps"]] == ["done", "done"]
    refused = [e["data"] for e in ledger(tmp_path / "state", "call.refused") if e["data"]["principal"] == "agent-two"]
    assert [r["requested_name"] for r in refused] == ["rollgate_rollback"] * 2
    assert "no step" in refused[0]["error"] and "belongs to another principal" in refused[1]["error"]
