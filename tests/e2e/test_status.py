"""`GET /api/status` and `rollgate status`: what an operator sees of a running gateway, and who may see it."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import APPROVER_TOKEN, OTHER_TOKEN, ROOT, TOKEN, probe_upstream
from tests.e2e.helpers import http_client, operator_cli, text_of
from tests.e2e.test_tool_pinning import recorded

pytestmark = pytest.mark.anyio

POLICIES = ROOT / "policies"
KV_MANIFESTS = ROOT / "tests" / "fixtures" / "manifests"


def _status(base: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{base}/api/status", headers=headers, timeout=30)


async def test_the_status_shows_upstreams_queue_quarantines_and_the_newest_refusals(
    start_gateway: Any, tmp_path: Any
) -> None:
    gateway = start_gateway(probe_upstream("probe"), policies=POLICIES, manifests=KV_MANIFESTS)
    read = {"path": str(tmp_path / "kv.json"), "key": "a"}
    meta = {"rollgate/workflow": "wf-status"}
    async with http_client(gateway.url, TOKEN) as client:
        assert not (await client.call_tool("probe__kv_get", read, meta=meta)).is_error
        operator = {"Authorization": f"Bearer {APPROVER_TOKEN}"}
        answer = httpx.post(
            f"{gateway.base}/api/workflows/wf-status/quarantine", json={"reason": "looks odd"}, headers=operator
        )
        assert answer.status_code == 200, answer.text
        refused = await client.call_tool("probe__kv_get", {**read, "key": "again"}, meta=meta)
        assert refused.is_error

    response = _status(gateway.base, APPROVER_TOKEN)
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(u["name"], u["state"]) for u in report["upstreams"]] == [("probe", "serving")]
    assert report["upstreams"][0]["tools"] > 5
    assert report["approvals"]["enabled"] and report["approvals"]["pending"] == 0
    held = {"kind": "workflow", "id": "wf-status", "reason": "looks odd (by alice)", "owner": "agent-one"}
    assert held in report["quarantined"]
    newest = report["recent_refusals"][0]
    assert newest["principal"] == "agent-one" and newest["workflow"] == "wf-status"
    assert any("quarantined" in reason for reason in newest["reasons"])
    assert "again" not in json.dumps(report)  # reasons only: no arguments
    assert report["ledger"]["enabled"] and report["ledger"]["entries"] > 3

    # The same through the command line, as JSON and as the sections a person reads.
    as_json = operator_cli(gateway, "status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["quarantined"] == report["quarantined"]
    plain = operator_cli(gateway, "status")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("rollgate ") and "ledger" in lines[0]
    assert any(line.startswith("probe ") and "serving" in line for line in lines)
    assert any("wf-status" in line and "looks odd" in line for line in lines)
    assert any("agent-one" in line and "quarantined" in line for line in lines)


async def test_agents_and_strangers_cannot_see_the_status(start_gateway: Any, tmp_path: Any) -> None:
    gateway = start_gateway(probe_upstream("probe"))
    for token in (TOKEN, OTHER_TOKEN):
        refused = _status(gateway.base, token)
        assert refused.status_code == 403 and "agents cannot" in refused.json()["error"]
    assert _status(gateway.base, None).status_code == 401
    assert _status(gateway.base, "rg_not_a_token").status_code == 401
    # An agent reading a workflow as an operator is refused and recorded the same way.
    agent = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{gateway.base}/api/workflows/wf-x", headers=agent, timeout=30).status_code == 403
    refusals: list[tuple[str, str]] = []
    with anyio.fail_after(10):  # each refusal is on record once durable (the index follows)
        while len(refusals) < 3:
            events = await recorded(tmp_path / "state", "operator.refused")
            refusals = sorted((e["principal"], e["action"]) for e in events if e["kind"] == "operator.refused")
            await anyio.sleep(0.05)
    assert refusals == [
        ("agent-one", "read a workflow"),
        ("agent-one", "read the gateway's status (it names every agent's refusals)"),
        ("agent-two", "read the gateway's status (it names every agent's refusals)"),
    ]  # the two 401s are not on record: anyone on the network could fill the ledger with them
    cli = operator_cli(gateway, "status", token=TOKEN)
    assert cli.returncode == 1 and "agents cannot" in cli.stderr
    missing = operator_cli(gateway, "status", token="", env={"ROLLGATE_APPROVER_TOKEN": ""})
    assert missing.returncode == 2


async def test_tripped_guards_show_in_the_status_and_in_metrics(start_gateway: Any, tmp_path: Any) -> None:
    """A rate limit and the kill switch, as an operator sees them: `rollgate status` and `/metrics`."""
    from prometheus_client.parser import text_string_to_metric_families

    limits = "[guards.rates.principal]\nrate = 0.2\nburst = 1\n[observability]\nmetrics_public = true\n"
    gateway = start_gateway(probe_upstream("probe"), policies=POLICIES, manifests=KV_MANIFESTS, extra=limits)
    read = {"path": str(tmp_path / "kv.json"), "key": "a"}
    operator = {"Authorization": f"Bearer {APPROVER_TOKEN}"}
    async with http_client(gateway.url, TOKEN) as client:
        assert not (await client.call_tool("probe__kv_get", read)).is_error
        limited = await client.call_tool("probe__kv_get", read)
        assert limited.is_error and "rate limit" in text_of(limited)
    stopped = httpx.post(f"{gateway.base}/api/stop", json={"agent": "agent-two", "reason": "drill"}, headers=operator)
    assert stopped.status_code == 200, stopped.text
    async with http_client(gateway.url, OTHER_TOKEN) as other:
        refused = await other.call_tool("probe__kv_get", read)
        assert refused.is_error and "drill" in text_of(refused)

    guards = _status(gateway.base, APPROVER_TOKEN).json()["guards"]
    assert [(s["principal"], s["by"], s["reason"]) for s in guards["stop"]["principals"]] == [
        ("agent-two", "alice", "drill")
    ]
    assert guards["stop"]["all"] is None
    assert [(t["principal"], t["bucket"]) for t in guards["rates"]["recent_trips"]] == [("agent-one", "principal")]
    assert guards["breakers"] == [] and guards["leases"] == [] and "loops" in guards and "budgets" in guards
    lines = operator_cli(gateway, "status").stdout.splitlines()
    assert any(line.startswith("stopped: agent agent-two by alice") and "drill" in line for line in lines)
    assert any(line.startswith("rates: 1 recent trips") for line in lines)

    scraped = httpx.get(f"{gateway.base}/metrics", timeout=30)
    assert scraped.status_code == 200
    trips = {
        sample.labels["guard"]: sample.value
        for family in text_string_to_metric_families(scraped.text)
        if family.name == "rollgate_guard_trips"
        for sample in family.samples
        if sample.name == "rollgate_guard_trips_total"
    }
    assert trips == {"rate": 1.0, "stop": 1.0}
