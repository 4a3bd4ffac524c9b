"""The usage guards through the real gateway and the SDK client: a runaway loop stopped and its
workflow quarantined, a near-duplicate loop, a budget over a sum, a rate limit's retry_after, and a
well-behaved agent that never meets the defaults."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import DEFAULT_POLICIES, OTHER_TOKEN, TOKEN
from tests.e2e.helpers import decision_of, http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

MODES = ["legacy", "auto"]  # a handshake session, and the SDK's default (stateless 2026-07-28)


def demo(db: Path) -> str:
    return f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n'


def policies_with_budgets(tmp_path: Path, **budgets: object) -> Path:
    """The default policy with `data.rollgate.budgets` changed."""
    directory = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICIES, directory)
    data = json.loads((directory / "data.json").read_text())
    data["rollgate"]["budgets"].update(budgets)
    (directory / "data.json").write_text(json.dumps(data))
    return directory


async def ledger_entries(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    """The `kind` entries of the gateway's ledger, once it has indexed one (read from outside)."""
    from gateway.store import SqliteLedgerStore

    store = SqliteLedgerStore(tmp_path / "state" / "ledger.db", writer=False)
    with anyio.fail_after(10):
        while not (found := [json.loads(row.body)["data"] for row in store.rows(kind=kind)]):
            await anyio.sleep(0.05)
    return found


@pytest.mark.parametrize("mode", MODES)
async def test_a_runaway_agent_is_stopped_after_k_calls_and_its_workflow_quarantined(
    start_gateway, tmp_path: Path, mode: str
) -> None:
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES)
    answers = []
    async with http_client(gateway.url, TOKEN, mode=mode) as client:
        workflow = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        meta = {"rollgate/workflow": workflow}
        for _ in range(8):  # the agent does not read its answers: the same update, again and again
            answers.append(await client.call_tool("demo__update_record", {"key": "k", "value": {"n": 1}}, meta=meta))
        read = await client.call_tool("demo__read_record", {"key": "k"}, meta=meta)
        status = await client.call_tool("rollgate_status", {"workflow_id": workflow})
    assert [a.is_error for a in answers] == [False] * 5 + [True] * 3  # the default same_call limit is 5
    stopped = decision_of(answers[5])
    assert stopped["effect"] == "deny" and "looks like a runaway loop" in stopped["reasons"][0]
    assert "would run 6 times within 60 s, over the limit of 5" in stopped["reasons"][0]
    for later in (answers[6], answers[7], read):  # every later call of the workflow, reads too
        assert read.is_error and any("is quarantined" in r for r in decision_of(later)["reasons"])
    assert status.structured_content["status"] == "quarantined"
    assert "runaway loop" in status.structured_content["reason"]
    quarantines = await ledger_entries(tmp_path, "quarantine")
    assert len(quarantines) == 1 and quarantines[0]["workflow"] == workflow
    assert "runaway loop" in quarantines[0]["reason"]
    refused = await ledger_entries(tmp_path, "call.refused")
    assert refused[0]["decision"]["guards"]["loop"]["kind"] == "same_call"


async def test_a_near_duplicate_loop_is_stopped_at_the_same_tool_limit(start_gateway, tmp_path: Path) -> None:
    gateway = start_gateway(
        demo(tmp_path / "demo.db"),
        policies=DEFAULT_POLICIES,
        extra="[guards.loops]\nsame_tool = 12\nquarantine = false\n",
    )
    async with http_client(gateway.url, TOKEN) as client:
        answers = [
            await client.call_tool("demo__update_record", {"key": f"k{n}", "value": {"n": n}}) for n in range(14)
        ]
    assert [a.is_error for a in answers] == [False] * 12 + [True] * 2
    stopped = decision_of(answers[12])
    assert "tool demo/update_record would run 13 times within 60 s, over the limit of 12" in stopped["reasons"][0]
    assert 0 < stopped["retry_after"] <= 60  # not quarantined: the window says when it passes again


async def test_a_budget_over_a_sum_is_exhausted_across_a_workflow_and_the_denial_names_spent_and_limit(
    start_gateway, tmp_path: Path
) -> None:
    sums = {"amount_cents": {"path": "amount_cents", "tools": ["demo/deposit", "demo/transfer"], "per_workflow": 10000}}
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=policies_with_budgets(tmp_path, sums=sums))
    async with http_client(gateway.url, TOKEN) as client:
        workflow = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        meta = {"rollgate/workflow": workflow}
        ada = await client.call_tool("demo__create_customer", {"name": "Ada", "email": "a@x.io"}, meta=meta)
        account = (
            await client.call_tool("demo__open_account", {"customer_id": ada.structured_content["id"]}, meta=meta)
        ).structured_content["id"]
        deposits = [
            await client.call_tool("demo__deposit", {"account_id": account, "amount_cents": 3000}, meta=meta)
            for _ in range(3)
        ]
        over = await client.call_tool("demo__deposit", {"account_id": account, "amount_cents": 1500}, meta=meta)
        balance = await client.call_tool("demo__get_account", {"account_id": account}, meta=meta)
        elsewhere = await client.call_tool("demo__deposit", {"account_id": account, "amount_cents": 1500})
    assert not any(d.is_error for d in deposits)
    assert over.is_error
    reason = f"workflow {workflow} would move 1500 amount_cents, over its budget of 10000 (spent 9000)"
    assert decision_of(over)["reasons"] == [reason] and reason in text_of(over)
    assert balance.structured_content["result"]["balance_cents"] == 9000
    assert not elsewhere.is_error  # another workflow has its own budget
    figures = (await ledger_entries(tmp_path, "call.refused"))[0]["decision"]["guards"]["budget"]["figures"]
    assert any(f["budget"] == "amount_cents" and f["exceeded"] and f["spent"] == 9000 for f in figures)


async def test_a_sum_spent_before_a_restart_still_counts_after_it(start_gateway, tmp_path: Path) -> None:
    sums = {"amount_cents": {"path": "amount_cents", "tools": ["demo/deposit"], "per_principal": 5000}}
    policies = policies_with_budgets(tmp_path, sums=sums)
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=policies)
    async with http_client(gateway.url, TOKEN) as client:
        ada = await client.call_tool("demo__create_customer", {"name": "Ada", "email": "a@x.io"})
        account = (
            await client.call_tool("demo__open_account", {"customer_id": ada.structured_content["id"]})
        ).structured_content["id"]
        assert not (await client.call_tool("demo__deposit", {"account_id": account, "amount_cents": 4000})).is_error
    from tests.conftest import stop

    stop(gateway.process)
    again = start_gateway(demo(tmp_path / "demo.db"), policies=policies)
    async with http_client(again.url, TOKEN) as client:
        over = await client.call_tool("demo__deposit", {"account_id": account, "amount_cents": 2000})
    assert decision_of(over)["reasons"] == [
        "agent agent-one would move 2000 amount_cents, over its budget of 5000 (spent 4000)"
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_rate_limit_answers_retry_after_and_waiting_is_enough(start_gateway, tmp_path: Path, mode: str) -> None:
    gateway = start_gateway(
        demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES, extra="[guards.rates.principal]\nrate = 0.5\nburst = 3\n"
    )
    async with http_client(gateway.url, TOKEN, mode=mode) as client:
        answers = []
        for n in range(10):  # the burst of 3, plus what refilled while the upstream started
            answers.append(await client.call_tool("demo__read_record", {"key": f"k{n}"}))
            if answers[-1].is_error:
                break
        limited = answers[-1]
        wait = decision_of(limited)["retry_after"] if limited.is_error else 0.0
        await anyio.sleep(wait + 0.05)
        after = await client.call_tool("demo__read_record", {"key": "again"})
    assert len(answers) >= 4 and not any(a.is_error for a in answers[:-1])
    assert limited.is_error and 0 < wait <= 2
    assert "rate limit: agent agent-one may make 0.5 calls a second" in decision_of(limited)["reasons"][0]
    assert "may succeed after" in text_of(limited)
    assert not after.is_error  # no lockout


async def test_a_well_behaved_agent_at_20_calls_a_second_never_meets_a_default_limit(
    start_gateway, tmp_path: Path
) -> None:
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES)
    refused: list[str] = []
    async with http_client(gateway.url, TOKEN) as client:
        start = time.monotonic()
        for n in range(600):  # 30 s at 20 calls a second: reads, polls and writes of one workflow
            tool, arguments = [
                ("demo__read_record", {"key": "status"}),  # a poll: the same read again and again
                ("demo__update_record", {"key": f"item-{n}", "value": {"n": n}}),
                ("demo__read_record", {"key": f"item-{n}"}),
                ("demo__list_customers", {}),
            ][n % 4]
            answer = await client.call_tool(tool, arguments)
            if answer.is_error:
                refused.append(text_of(answer))
            await anyio.sleep(max(0.0, start + (n + 1) / 20 - time.monotonic()))
    assert refused == []


async def test_one_agents_loop_and_rate_never_count_against_another(start_gateway, tmp_path: Path) -> None:
    gateway = start_gateway(
        demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES, extra="[guards.rates.principal]\nrate = 1\nburst = 6\n"
    )
    async with http_client(gateway.url, TOKEN) as ada, http_client(gateway.url, OTHER_TOKEN) as bob:
        looping = [await ada.call_tool("demo__update_record", {"key": "k", "value": {"a": 1}}) for _ in range(7)]
        bobs = [await bob.call_tool("demo__update_record", {"key": "k", "value": {"a": 1}}) for _ in range(5)]
    assert looping[-1].is_error and not any(b.is_error for b in bobs)
