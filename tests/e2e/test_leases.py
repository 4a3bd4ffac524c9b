"""Resource leases over streamable HTTP with the SDK client: two agents mutating the same key at
once are serialised (wait) or the second is refused (refuse), naming the key and never the other
workflow; the demo bank's balances add up after concurrent transfers either way."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from tests.conftest import MANIFESTS, OTHER_TOKEN, TOKEN, probe_upstream
from tests.e2e.helpers import decision_of, http_client, text_of
from tests.e2e.test_approvals import demo, funded_accounts

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SLEEP = 1.5


def leases(mode: str) -> str:
    return f'[guards.leases]\nmode = "{mode}"\nwait_seconds = 10\n'


def sleeping_on_a_slot(tmp_path: Path) -> Path:
    """The probe's sleep tool as a mutation of the resource `slot:<seconds>`: a call that holds a
    lease for as long as the test wants."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    tool = {"server": "probe", "tool": "sleep", "reversibility": "reversible", "impact": "low"}
    tool["blast_radius"] = ["slot:{args.seconds}"]
    (folder / "probe.yaml").write_text(yaml.safe_dump({"version": 1, "tools": [tool]}))
    return folder


async def overlapping_sleeps(url: str) -> tuple[Any, float]:
    """Agent one sleeps on the slot; agent two asks for the same slot while it does. Returns agent
    two's answer and how long it took."""
    outcome: list[tuple[Any, float]] = []
    async with http_client(url, TOKEN) as one, http_client(url, OTHER_TOKEN) as two:

        async def second() -> None:
            await anyio.sleep(0.5)
            started = time.monotonic()
            answer = await two.call_tool("probe__sleep", {"seconds": SLEEP}, meta={"rollgate/workflow": "wf-two"})
            outcome.append((answer, time.monotonic() - started))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(second)
                first = await one.call_tool(
                    "probe__sleep", {"seconds": SLEEP}, meta={"rollgate/workflow": "wf-secret-one"}
                )
    assert not first.is_error
    return outcome[0]


async def test_the_second_agent_waits_for_the_first_on_the_same_key(start_gateway, tmp_path) -> None:
    gateway = start_gateway(probe_upstream(), manifests=sleeping_on_a_slot(tmp_path), extra=leases("wait"))
    answer, took = await overlapping_sleeps(gateway.url)
    assert not answer.is_error and text_of(answer) == "slept"
    assert took >= SLEEP + 0.8  # it waited for the first (about 1 s) before its own 1.5 s: not interleaved


async def test_refuse_mode_refuses_the_second_agent_naming_the_key_only(start_gateway, tmp_path) -> None:
    gateway = start_gateway(probe_upstream(), manifests=sleeping_on_a_slot(tmp_path), extra=leases("refuse"))
    answer, took = await overlapping_sleeps(gateway.url)
    assert answer.is_error and took < SLEEP
    assert f"another workflow holds a lease on slot:{SLEEP}" in text_of(answer)
    assert "wf-secret-one" not in text_of(answer) and "agent-one" not in str(decision_of(answer))
    assert decision_of(answer)["lease"]["key"] == f"slot:{SLEEP}"


def balances(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT id, balance_cents FROM accounts").fetchall())


@pytest.mark.parametrize(("mode", "era"), [("wait", "legacy"), ("wait", "2026-07-28"), ("refuse", "2026-07-28")])
async def test_concurrent_transfers_of_two_agents_leave_the_demo_bank_consistent(
    start_gateway, tmp_path, mode: str, era: str
) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), manifests=MANIFESTS, extra=leases(mode))
    async with http_client(gateway.url, TOKEN, mode=era) as one, http_client(gateway.url, OTHER_TOKEN, mode=era) as two:
        a, b = await funded_accounts(one, target_cents=10_000)
        moved: dict[str, list[int]] = {"one": [], "two": []}
        refused: list[str] = []

        async def transfers(client: Any, who: str, source: str, target: str, base: int) -> None:
            for n in range(8):  # distinct amounts: the manifest's idempotency key includes the amount
                cents = base + n
                answer = await client.call_tool(
                    "demo__transfer",
                    {"from_account_id": source, "to_account_id": target, "amount_cents": cents, "memo": f"{who} {n}"},
                    meta={"rollgate/workflow": f"wf-{who}"},
                )
                if answer.is_error:
                    refused.append(text_of(answer))
                else:
                    moved[who].append(cents)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for loop in range(3):  # each agent's own calls run side by side in its workflow
                    tg.start_soon(transfers, one, "one", a, b, 100 + 10 * loop)
                    tg.start_soon(transfers, two, "two", b, a, 30 + 10 * loop)
    after = balances(db)
    assert after[a] == 10_000 - sum(moved["one"]) + sum(moved["two"])
    assert after[b] == 10_000 + sum(moved["one"]) - sum(moved["two"])
    assert sum(after.values()) == 20_000
    assert all("another workflow holds a lease on account:" in text for text in refused)
    if mode == "wait":
        assert refused == [] and len(moved["one"]) == len(moved["two"]) == 24
    else:  # six callers at once on two accounts: the refusals happen (about 20 of 48 here)
        assert refused and moved["one"] and moved["two"]
