"""Commands for policy authors: explain a decision, run policy tests, plan calls, export schemas.

`policy eval` and `plan` start the gateway's upstream connections in-process (so a tool's real
definition and annotations are used), evaluate, and stop; nothing is forwarded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

from gateway.app import Gateway
from gateway.clock import SYSTEM
from gateway.config import Config
from gateway.errors import PolicyError
from gateway.manifests import ManifestFile
from gateway.models import Principal
from gateway.pipeline import Call
from gateway.pipeline.metatools import render_plan
from gateway.policy.document import Decision, PolicyInput
from gateway.policy.service import short
from gateway.policy.testing import run_tests
from gateway.server.calls import build_call
from gateway.upstream.pool import LinkSet


def policy_eval(
    config: Config, tool: str, arguments: dict[str, Any], principal: Principal, meta: dict[str, Any]
) -> int:
    async def main() -> int:
        gateway = Gateway(config)
        async with gateway.running():
            call = _call(gateway, tool, arguments, principal, meta)
            row = await gateway.planner.plan_one(call)  # the same stages as a real call, minus forwarding
            print("input:")
            if call.decision is not None and call.manifest is not None:
                evaluation = await _evaluation_input(gateway, call)
                print(json.dumps(evaluation, indent=2))
            print(f"\neffect:  {row['effect']}")
            for reason in row["reasons"]:
                print(f"reason:  {reason}")
            if call.decision is not None:
                for rule in call.decision.matched:
                    print(f"matched: {rule}")
                for approver in call.decision.approvers:
                    print(f"approver: {approver.count} of role {approver.role!r}")
                print(f"obligations: {call.decision.obligations.model_dump_json()}")
            return 0 if row["effect"] != "error" else 1

    return anyio.run(main)


async def _evaluation_input(gateway: Gateway, call: Call) -> dict[str, Any]:
    from gateway.policy import build_input

    assert call.tool is not None and call.manifest is not None
    policy_input = build_input(
        call.context, call.tool, call.manifest, gateway.workflows.view(call.context.workflow_id), now=SYSTEM.now()
    )
    return policy_input.model_dump(mode="json")


def plan_file(config: Config, path: Path, principal: Principal) -> int:
    intended = json.loads(path.read_text())
    calls = intended["calls"] if isinstance(intended, dict) else intended

    async def main() -> int:
        gateway = Gateway(config)
        async with gateway.running():
            built = [_call(gateway, c["tool"], c.get("arguments", {}), principal, {}) for c in calls]
            answer = await gateway.planner.plan(built)
        print(render_plan(answer))
        return 0

    return anyio.run(main)


def _call(gateway: Gateway, tool: str, arguments: dict[str, Any], principal: Principal, meta: dict[str, Any]) -> Call:
    links = LinkSet(gateway.pool, gateway.pool.shared.relay)
    return build_call({"name": tool, "arguments": arguments, "_meta": meta}, principal, links, None, "cli")


def policy_test(directory: Path, verbose: bool) -> int:
    try:
        report = run_tests(directory)
    except PolicyError as exc:
        print(f"rollgate: the policy does not compile: {short(exc)}", file=sys.stderr)
        return 1
    for outcome in report.outcomes:
        if verbose or not outcome.passed:
            status = "PASS" if outcome.passed else "FAIL"
            print(f"{status} {outcome.name}" + (f"\n     {outcome.detail}" if outcome.detail else ""))
    passed = len(report.outcomes) - report.failed
    coverage = f"{report.coverage_percent:.1f}%" if report.coverage_percent is not None else "n/a"
    print(f"{passed} passed, {report.failed} failed (policy coverage {coverage})")
    for line in report.uncovered[:20]:
        print(f"  not covered: {line}")
    return 1 if report.failed or not report.outcomes else 0


def export_schemas(out: Path | None) -> int:
    schemas = {
        "tool_manifests/schema.json": ManifestFile.model_json_schema(),
        "policies/input.schema.json": PolicyInput.model_json_schema(),
        "policies/decision.schema.json": Decision.model_json_schema(),
    }
    for name, schema in schemas.items():
        target = (out or Path(".")) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        print(f"wrote {target}", file=sys.stderr)
    return 0
