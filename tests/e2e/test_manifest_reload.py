"""A running gateway takes a manifest edit without a restart, and keeps the last good set on a broken one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest

from tests.conftest import DEFAULT_POLICIES, PYTHON, ROOT, TOKEN, RunningGateway, probe_upstream
from tests.e2e.helpers import decision_of, http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def echo_manifest(reversibility: str, impact: str) -> str:
    entry = f"  - server: probe\n    tool: echo\n    reversibility: {reversibility}\n    impact: {impact}\n"
    return "version: 1\ntools:\n" + entry


def ledger_show(config: Path) -> str:
    shown = subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), "ledger", "show"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    return shown.stdout


async def reloads_seen(gateway: RunningGateway, count: int) -> None:
    """Until the gateway has logged `count` manifest reload attempts (taken or refused)."""
    with anyio.fail_after(15):
        while sum(gateway.log.read_text().count(f"manifests {word}") for word in ("reloaded", "not reloaded")) < count:
            await anyio.sleep(0.05)


async def test_an_edited_reversibility_takes_effect_without_a_restart(start_gateway, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "probe.yaml").write_text(echo_manifest("read_only", "low"))
    gateway = start_gateway(probe_upstream(), policies=DEFAULT_POLICIES, manifests=manifests)
    config = next(tmp_path.glob("rollgate-*.toml"))
    async with http_client(gateway.url, TOKEN) as client:
        allowed = await client.call_tool("probe__echo", {"text": "before"})
        assert not allowed.is_error and text_of(allowed) == "before"

        (manifests / "probe.yaml").write_text(echo_manifest("irreversible", "high"))
        await reloads_seen(gateway, 1)
        held = await client.call_tool("probe__echo", {"text": "after"})
        assert held.is_error and decision_of(held)["effect"] == "require_approval"
        assert "irreversible tool with high impact" in text_of(held)

        (manifests / "probe.yaml").write_text(echo_manifest("read_only", "lowish"))
        await reloads_seen(gateway, 2)
        still_held = await client.call_tool("probe__echo", {"text": "broken"})
        assert still_held.is_error and decision_of(still_held)["effect"] == "require_approval"

    log = gateway.log.read_text()
    assert f"{manifests / 'probe.yaml'}:6: tools.0.impact" in log
    shown = ledger_show(config)
    assert shown.count("manifests.reload") == 2
    assert '"ok": false' in shown and "probe.yaml:6: tools.0.impact" in shown
