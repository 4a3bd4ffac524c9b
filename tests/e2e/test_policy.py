"""Policy decisions through the real proxy path: matrix cells, refusals, aliases, plans, OPA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import DEFAULT_POLICIES, ROOT, TOKEN, probe_upstream
from tests.e2e.helpers import decision_of, http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

REVERSIBILITY = ("read_only", "reversible", "compensable", "irreversible")
IMPACT = ("low", "medium", "high", "critical")
MATRIX = json.loads((DEFAULT_POLICIES / "data.json").read_text())["rollgate"]["matrix"]


def cell_manifests(directory: Path) -> Path:
    directory.mkdir()
    lines = ["version: 1", "tools:"]
    for rev in REVERSIBILITY:
        for impact in IMPACT:
            lines += [
                "  - server: probe",
                f"    tool: cell_{rev}_{impact}",
                f"    reversibility: {rev}",
                f"    impact: {impact}",
            ]
    (directory / "cells.yaml").write_text("\n".join(lines) + "\n")
    return directory


async def test_every_cell_of_the_default_matrix_decides_as_data_json_says(start_gateway, tmp_path: Path) -> None:
    manifests = cell_manifests(tmp_path / "manifests")
    gateway = start_gateway(probe_upstream(env='{PROBE_CELLS = "1"}'), policies=DEFAULT_POLICIES, manifests=manifests)
    ran = tmp_path / "ran.log"
    seen: dict[tuple[str, str], str] = {}
    async with http_client(gateway.url, TOKEN) as client:
        for rev in REVERSIBILITY:
            for impact in IMPACT:
                result = await client.call_tool(f"probe__cell_{rev}_{impact}", {"path": str(ran)})
                effect = "allow" if not result.is_error else decision_of(result)["effect"]
                seen[(rev, impact)] = effect
                if result.is_error:
                    assert decision_of(result)["decision_id"].startswith("dec_")
                    assert decision_of(result)["reasons"]
    forwarded = set(ran.read_text().split()) if ran.exists() else set()
    for rev in REVERSIBILITY:
        for impact in IMPACT:
            expected = "allow" if rev == "read_only" else MATRIX[rev][impact]["effect"]
            assert seen[(rev, impact)] == expected, (rev, impact)
            assert (f"cell_{rev}_{impact}" in forwarded) == (expected == "allow"), (rev, impact)


async def test_a_tool_without_manifest_or_annotations_is_held_as_irreversible_and_high(start_gateway, tmp_path) -> None:
    gateway = start_gateway(probe_upstream(), policies=DEFAULT_POLICIES)
    marker = tmp_path / "touched"
    async with http_client(gateway.url, TOKEN) as client:
        result = await client.call_tool("probe__touch", {"path": str(marker), "count": 1})
    assert result.is_error and decision_of(result)["effect"] == "require_approval"
    assert "irreversible tool with high impact" in text_of(result)
    assert not marker.exists()


async def test_only_the_listed_name_reaches_a_tool_and_the_decision_is_for_the_resolved_tool(
    start_gateway, tmp_path: Path
) -> None:
    manifests = cell_manifests(tmp_path / "manifests")
    gateway = start_gateway(probe_upstream(env='{PROBE_CELLS = "1"}'), policies=DEFAULT_POLICIES, manifests=manifests)
    ran = tmp_path / "ran.log"
    async with http_client(gateway.url, TOKEN) as client:
        for alias in (
            "cell_read_only_low",
            "PROBE__cell_read_only_low",
            "probe__CELL_read_only_low",
            "probe_cell_read_only_low",
            "probe/cell_read_only_low",
            "probe__cell_read_only_low ",
            "probe____cell_read_only_low",
        ):
            with pytest.raises(MCPError, match="unknown tool"):
                await client.call_tool(alias, {"path": str(ran)})
        held = await client.call_tool("probe__cell_irreversible_high", {"path": str(ran)})
    assert held.is_error and not ran.exists()


async def test_rollgate_plan_runs_nothing_and_says_what_would_happen(start_gateway, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(
        f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n',
        policies=DEFAULT_POLICIES,
    )
    calls = json.loads((ROOT / "examples" / "plan.json").read_text())["calls"]
    async with http_client(gateway.url, TOKEN) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        plan = await client.call_tool("rollgate_plan", {"calls": [*calls, {"tool": "demo__nope"}]})
        customers = await client.call_tool("demo__list_customers", {})
    assert "rollgate_plan" in names
    rows = {row["tool"]: row for row in plan.structured_content["calls"]}
    assert rows["demo__list_customers"]["would_run"] and rows["demo__create_customer"]["would_run"]
    assert rows["demo__transfer"]["needs_approval"] and not rows["demo__transfer"]["irreversible"]
    assert rows["demo__send_email"]["needs_approval"] and rows["demo__send_email"]["irreversible"]
    assert rows["demo__nope"]["effect"] == "error"
    assert plan.structured_content["summary"]["would_run"] == 2
    assert customers.structured_content == {"result": []}  # the plan created nobody


async def test_a_quarantined_or_low_confidence_call_is_denied_with_structured_reasons(start_gateway, tmp_path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(
        f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n',
        policies=DEFAULT_POLICIES,
    )
    async with http_client(gateway.url, TOKEN) as client:
        unsure = await client.call_tool(
            "demo__create_customer", {"name": "A", "email": "a@example.com"}, meta={"rollgate/confidence": 0.1}
        )
        hesitant = await client.call_tool(
            "demo__create_customer", {"name": "B", "email": "b@example.com"}, meta={"rollgate/confidence": 0.4}
        )
        sure = await client.call_tool(
            "demo__create_customer", {"name": "C", "email": "c@example.com"}, meta={"rollgate/confidence": 0.9}
        )
    assert decision_of(unsure)["effect"] == "deny" and "confidence 0.10" in decision_of(unsure)["reasons"][0]
    assert decision_of(hesitant)["effect"] == "require_approval"
    assert not sure.is_error and sure.structured_content["name"] == "C"


async def test_the_opa_engine_decides_through_the_gateway_and_fails_closed_when_opa_is_gone(
    start_gateway, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from tests.conftest import free_port, stop, wait_for_http

    port = free_port()
    opa = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fixtures" / "opa_data_api.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", opa)
        manifests = cell_manifests(tmp_path / "manifests")
        gateway = start_gateway(
            probe_upstream(env='{PROBE_CELLS = "1"}'),
            policies=DEFAULT_POLICIES,
            manifests=manifests,
            extra=f'[policy]\nengine = "opa"\nopa_url = "http://127.0.0.1:{port}"\nopa_timeout_seconds = 1.0\n',
        )
        ran = tmp_path / "ran.log"
        async with http_client(gateway.url, TOKEN) as client:
            allowed = await client.call_tool("probe__cell_read_only_low", {"path": str(ran)})
            held = await client.call_tool("probe__cell_compensable_high", {"path": str(ran)})
            stop(opa)
            refused = await client.call_tool("probe__cell_read_only_low", {"path": str(ran)})
    finally:
        stop(opa)
    assert not allowed.is_error and decision_of(held)["effect"] == "require_approval"
    assert refused.is_error and decision_of(refused)["effect"] == "deny"
    assert "OPA query failed" in decision_of(refused)["reasons"][0]
    assert ran.read_text().split() == ["cell_read_only_low"]
