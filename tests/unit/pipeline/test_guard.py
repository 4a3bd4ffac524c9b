"""Stage 3, `Guard` (`gateway/pipeline/guard.py`): the usage guards measured into the policy input,
counted only for what ran, with the default policy's reactions and the ledger's record of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
import yaml

from gateway.config import GuardsConfig, NamespaceConfig
from gateway.guards.budgets import BudgetGuard
from gateway.guards.loops import LoopGuard, LoopLimits
from gateway.guards.rates import RateGuard, RateLimit, RateLimits
from gateway.ledger.keys import load_or_create
from gateway.ledger.ledger import Ledger
from gateway.ledger.privacy import Masker
from gateway.manifests import ManifestRegistry
from gateway.models import CallContext, Principal
from gateway.pipeline import Call, Stages
from gateway.pipeline.guard import Guard, usage_guard
from gateway.pipeline.verdict import DECISION_META
from gateway.policy import PolicyService, RegorusEngine
from gateway.store import SqliteLedgerStore
from gateway.upstream.catalog import Catalog, UpstreamListing
from gateway.workflows import WorkflowBook
from tests.conftest import ALLOW_ALL, DEFAULT_POLICIES

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object"}
MANIFESTS = [
    {"server": "up", "tool": "read", "reversibility": "read_only", "impact": "low"},
    {"server": "up", "tool": "write", "reversibility": "reversible", "impact": "low"},
    {"server": "up", "tool": "charge", "reversibility": "compensable", "impact": "high"},
]


class Upstream:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def request(self, method: str, params: Any, progress: Any = None, **_: Any) -> dict[str, Any]:
        self.calls.append(params)
        return {"content": [{"type": "text", "text": "ok"}], "isError": False}


class Parts:
    def __init__(self, tmp_path: Path, guard: Guard, policies: Path = DEFAULT_POLICIES) -> None:
        self.tmp_path, self.guard, self.policies = tmp_path, guard, policies
        self.upstream = Upstream()
        self.status: dict[str, tuple[str, str | None]] = {}
        self.quarantined: list[tuple[str, str]] = []
        guard._quarantine = self.quarantine

    async def quarantine(self, workflow: str, reason: str) -> None:
        self.quarantined.append((workflow, reason))
        self.status[workflow] = ("quarantined", reason)

    async def start(self) -> None:
        manifests = self.tmp_path / "manifests"
        manifests.mkdir()
        (manifests / "m.yaml").write_text(yaml.safe_dump({"version": 1, "tools": MANIFESTS}))
        registry = ManifestRegistry.load(manifests)
        tools = [types.Tool(name=m["tool"], input_schema=SCHEMA) for m in MANIFESTS]
        catalog = Catalog(NamespaceConfig(), {"up": UpstreamListing(tools=tools)})
        policy = PolicyService(RegorusEngine(), self.policies, "data.rollgate.policy.decision")
        await policy.load()
        key, _ = load_or_create(self.tmp_path / "keys")
        self.ledger = Ledger(SqliteLedgerStore(self.tmp_path / "ledger.db"), key, "t")
        masker = Masker.for_state_dir(self.tmp_path, 64 * 1024)
        book = WorkflowBook(lambda workflow: self.status.get(workflow, ("active", None)))
        stages = Stages(
            lambda: catalog, lambda: registry, lambda: policy, book, (self.ledger, masker), guard=self.guard
        )
        self.pipeline = stages.pipeline()

    async def call(self, tool: str, arguments: dict[str, Any], **context: Any) -> dict[str, Any]:
        async def links(upstream: str) -> Any:
            return self.upstream

        principal = Principal(context.pop("principal", "ada"), frozenset({"agent"}))
        workflow = context.pop("workflow", "wf-1")
        call = CallContext(
            principal, f"up__{tool}", arguments, workflow, None, f"c-{len(self.upstream.calls)}", **context
        )
        with anyio.fail_after(10):
            return await self.pipeline.call(Call(context=call, links=links))  # type: ignore[no-any-return]

    def decisions(self) -> list[dict[str, Any]]:
        rows = self.ledger.store.rows()
        return [json.loads(row.body)["data"].get("decision") or {} for row in rows if row.kind == "call.refused"]


def loops(**limits: Any) -> Guard:
    return Guard(loops=LoopGuard(LoopLimits(**limits)))


async def test_a_runaway_loop_is_stopped_after_k_calls_and_its_workflow_quarantined(tmp_path: Path) -> None:
    parts = Parts(tmp_path, loops(same_call=5))
    await parts.start()
    answers = [await parts.call("write", {"key": "k", "value": "v"}) for _ in range(8)]
    assert [a["isError"] for a in answers] == [False] * 5 + [True] * 3
    assert len(parts.upstream.calls) == 5
    stopped, after = answers[5]["_meta"][DECISION_META], answers[6]["_meta"][DECISION_META]
    assert "looks like a runaway loop" in stopped["reasons"][0] and "over the limit of 5" in stopped["reasons"][0]
    assert "workflow wf-1 is quarantined" in after["reasons"][0]
    assert len(parts.quarantined) == 1  # once, by the call that tripped the loop
    workflow, reason = parts.quarantined[0]
    assert workflow == "wf-1" and "runaway loop" in reason and stopped["decision_id"] in reason
    recorded = parts.decisions()[0]
    assert recorded["guards"]["loop"]["kind"] == "same_call" and recorded["guards"]["loop"]["same_call"] == 5
    # later calls are refused as quarantined (the loop, still in its window, says so too), and
    # a loop seen again in a quarantined workflow asks for no second quarantine
    assert any("is quarantined" in reason for reason in parts.decisions()[1]["reasons"])


async def test_held_and_denied_calls_are_not_counted(tmp_path: Path) -> None:
    parts = Parts(tmp_path, loops(same_call=2))
    await parts.start()
    for _ in range(10):  # compensable/high: held for approval (approvals are off here), never ran
        await parts.call("charge", {"amount_cents": 5})
    assert parts.quarantined == [] and parts.upstream.calls == []


async def test_compensations_are_never_measured_or_stopped(tmp_path: Path) -> None:
    parts = Parts(tmp_path, loops(same_call=1))
    await parts.start()
    answers = [await parts.call("write", {"key": "k"}, compensation=True, internal=True) for _ in range(5)]
    assert not any(a["isError"] for a in answers) and len(parts.upstream.calls) == 5


async def test_a_rate_limited_call_is_refused_with_retry_after_and_without_lockout(tmp_path: Path) -> None:
    now = [0.0]
    guard = Guard(rates=RateGuard(RateLimits(principal=RateLimit(rate=1, burst=2)), lambda: now[0]))
    parts = Parts(tmp_path, guard)
    await parts.start()
    answers = [await parts.call("read", {"n": n}) for n in range(3)]
    assert [a["isError"] for a in answers] == [False, False, True]
    refused = answers[2]
    assert refused["_meta"][DECISION_META]["retry_after"] == 1.0
    assert "may succeed after 1 s" in refused["content"][0]["text"]
    assert parts.decisions()[0]["guards"]["rate"]["bucket"] == "principal"
    assert parts.quarantined == []
    now[0] += 1.0
    assert not (await parts.call("read", {"n": 3}))["isError"]


async def test_a_spent_budget_is_refused_with_the_figures(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for name in ("rollgate.rego", "data.json"):
        (policies / name).write_text((DEFAULT_POLICIES / name).read_text())
    data = json.loads((policies / "data.json").read_text())
    data["rollgate"]["budgets"]["sums"] = {
        "amount_cents": {"path": "amount_cents", "tools": ["up/*"], "per_workflow": 100}
    }
    (policies / "data.json").write_text(json.dumps(data))
    budgets: list[Any] = []
    book_counts = WorkflowBook()
    guard = Guard(budgets=BudgetGuard(lambda: budgets[0] if budgets else None, book_counts.counts))
    parts = Parts(tmp_path, guard, policies)
    await parts.start()
    budgets.append(data["rollgate"]["budgets"])
    assert not (await parts.call("write", {"amount_cents": 60}))["isError"]
    refused = await parts.call("write", {"amount_cents": 60})
    assert refused["_meta"][DECISION_META]["reasons"] == [
        "workflow wf-1 would move 60 amount_cents, over its budget of 100 (spent 60)"
    ]
    figure = parts.decisions()[0]["guards"]["budget"]["figures"]
    assert {"budget": "amount_cents", "spent": 60.0, "amount": 60.0, "limit": 100.0, "exceeded": True}.items() <= next(
        f for f in figure if f["exceeded"]
    ).items()
    assert not (await parts.call("write", {"amount_cents": 60}, workflow="wf-2"))["isError"]


async def test_a_policy_of_ones_own_may_let_a_tripped_guard_through_and_then_it_counts(tmp_path: Path) -> None:
    guard = loops(same_call=1)
    parts = Parts(tmp_path, guard, ALLOW_ALL)
    await parts.start()
    answers = [await parts.call("write", {"key": "k"}) for _ in range(3)]
    assert not any(a["isError"] for a in answers) and parts.quarantined == []
    assert (
        guard.loops is not None
        and guard.loops.measure("wf-1", "up/write", {"key": "k"}, read_only=False)[0].same_call == 3
    )


async def test_one_agents_loop_never_counts_against_another(tmp_path: Path) -> None:
    parts = Parts(tmp_path, loops(same_call=2, quarantine=False))
    await parts.start()
    for _ in range(3):
        await parts.call("write", {"key": "k"}, principal="ada", workflow="wf-ada")
    assert not (await parts.call("write", {"key": "k"}, principal="bob", workflow="wf-bob"))["isError"]


def test_the_configuration_builds_the_guards_it_turns_on() -> None:
    everything = usage_guard(GuardsConfig(), lambda: None, WorkflowBook().counts, None, None)
    assert everything is not None and None not in (everything.loops, everything.budgets, everything.rates)
    assert set(everything.state()) == {"loops", "budgets", "rates"}
    off = GuardsConfig.model_validate({name: {"enabled": False} for name in ("loops", "budgets", "rates")})
    assert usage_guard(off, lambda: None, WorkflowBook().counts, None, None) is None
