"""`rollgate policy eval TOOL` and `rollgate plan FILE`: decisions for calls that are never run.

Both start the gateway's upstream connections in-process (so a tool's real definition and
annotations are used), take each call through the pipeline's stages up to forwarding, and stop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from gateway.app import Gateway
from gateway.clock import SYSTEM
from gateway.config import Config
from gateway.models import Principal
from gateway.pipeline import Call
from gateway.pipeline.metatools import render_plan
from gateway.policy import build_input
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
                print(json.dumps(_evaluation_input(gateway, call), indent=2))
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


def _evaluation_input(gateway: Gateway, call: Call) -> dict[str, Any]:
    assert call.tool is not None and call.manifest is not None
    policy_input = build_input(
        call.context,
        call.tool,
        call.manifest,
        gateway.workflows.view(call.context.workflow_id),
        now=SYSTEM.now(),
        definition_changed=call.definition_changed,
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
