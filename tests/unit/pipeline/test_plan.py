"""The planner (`gateway/pipeline/plan.py`): resolve, validate and decide each intended call, run none.

A stand-in policy answers by tool name, so each row's fields can be pinned exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
import yaml
from pydantic import ValidationError

from gateway.config import NamespaceConfig
from gateway.manifests import ManifestRegistry
from gateway.models import CallContext, Principal
from gateway.pipeline import Call
from gateway.pipeline.decide import Decide
from gateway.pipeline.plan import Plan, Planner
from gateway.pipeline.resolve import Resolve
from gateway.pipeline.validate import Validate
from gateway.policy import Decision, Effect, Evaluation, PolicyInput
from gateway.policy.document import ApproverRule
from gateway.upstream.catalog import Catalog, UpstreamListing
from gateway.workflows import WorkflowBook

pytestmark = pytest.mark.anyio
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
EFFECTS = {"read": Effect.ALLOW, "pay": Effect.REQUIRE_APPROVAL, "wipe": Effect.DENY}
MANIFESTS = [
    {"server": "bank", "tool": "read", "reversibility": "read_only", "impact": "low"},
    {"server": "bank", "tool": "pay", "reversibility": "compensable", "impact": "high"},
    {"server": "bank", "tool": "wipe", "reversibility": "irreversible", "impact": "critical"},
]


class ByToolName:
    """A policy that decides by the upstream tool name."""

    async def evaluate(self, policy_input: PolicyInput) -> Evaluation:
        name = policy_input.tool.upstream_name
        approvers = [ApproverRule(role="treasury", count=2)] if name == "pay" else []
        decision = Decision(
            effect=EFFECTS.get(name, Effect.ALLOW),
            reasons=[f"{name} rule"],
            approvers=approvers,
            decision_id=f"d-{name}",
        )
        return Evaluation(decision, policy_input, None, 0.0)


class NoLinks:
    async def __call__(self, upstream: str) -> Any:
        raise AssertionError("a plan must never reach an upstream")


@pytest.fixture
def planner(tmp_path: Path) -> Planner:
    (tmp_path / "bank.yaml").write_text(yaml.safe_dump({"version": 1, "tools": MANIFESTS}))
    registry = ManifestRegistry.load(tmp_path)
    tools = [types.Tool(name=name, input_schema=SCHEMA) for name in [*EFFECTS, "unlisted"]]
    catalog = Catalog(NamespaceConfig(), {"bank": UpstreamListing(tools=tools)})
    policy = ByToolName()
    decide = Decide(lambda: policy, WorkflowBook())  # type: ignore[arg-type, return-value]
    return Planner(Resolve(lambda: catalog, lambda: registry), Validate(), decide)


def intended(name: str, arguments: dict[str, Any]) -> Call:
    return Call(context=CallContext(Principal("agent"), name, arguments, "wf", None, "c"), links=NoLinks())


async def test_each_row_says_what_would_happen_and_the_summary_counts_them(planner: Planner) -> None:
    plan = await planner.plan(
        [
            intended("bank__read", {"n": 1}),
            intended("bank__pay", {"n": 2}),
            intended("bank__wipe", {"n": 3}),
            intended("bank__nothing", {}),
            intended("bank__read", {"n": "one"}),
        ]
    )
    read, pay, wipe, unknown, invalid = plan["calls"]
    assert read == {
        "tool": "bank__read",
        "runs_as": "bank/read",
        "effect": "allow",
        "would_run": True,
        "needs_approval": False,
        "irreversible": False,
        "reversibility": "read_only",
        "impact": "low",
        "manifest_source": "manifest",
        "approvers": [],
        "reasons": ["read rule"],
        "decision_id": "d-read",
    }
    assert (pay["effect"], pay["needs_approval"], pay["would_run"]) == ("require_approval", True, False)
    assert pay["approvers"] == [{"role": "treasury", "count": 2}]
    assert (wipe["effect"], wipe["irreversible"], wipe["impact"]) == ("deny", True, "critical")
    assert unknown == {
        "tool": "bank__nothing",
        "effect": "error",
        "would_run": False,
        "needs_approval": False,
        "irreversible": None,
        "reasons": ["unknown tool 'bank__nothing'"],
    }
    assert invalid["effect"] == "error" and invalid["reasons"][0].startswith(
        "invalid arguments for tool 'bank__read': n:"
    )
    assert plan["summary"] == {
        "total": 5,
        "would_run": 1,
        "need_approval": 1,
        "denied": 1,
        "errors": 2,
        "irreversible": 1,
    }


async def test_a_tool_without_a_manifest_is_planned_as_irreversible_by_default(planner: Planner) -> None:
    row = await planner.plan_one(intended("bank__unlisted", {"n": 1}))
    assert (row["manifest_source"], row["reversibility"], row["irreversible"]) == ("default", "irreversible", True)


async def test_an_empty_plan_is_all_zeros(planner: Planner) -> None:
    summary = (await planner.plan([]))["summary"]
    assert summary == dict.fromkeys(["total", "would_run", "need_approval", "denied", "errors", "irreversible"], 0)


def test_a_plan_document_takes_only_tool_and_arguments() -> None:
    plan = Plan.model_validate({"calls": [{"tool": "bank__read"}]})
    assert plan.calls[0].arguments == {}
    with pytest.raises(ValidationError, match="extra"):
        Plan.model_validate({"calls": [{"tool": "bank__read", "run": True}]})
    with pytest.raises(ValidationError, match="extra"):
        Plan.model_validate({"calls": [], "execute": True})
