"""Intent declaration: evaluate a list of intended calls without executing any.

Each intended call goes through the same resolve, validate and decide stages as a real call, and
stops there. The answer says which would run, which need approval, which are irreversible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict

from gateway.errors import CallError
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.chain import Pipeline
from gateway.pipeline.decide import Decide
from gateway.pipeline.resolve import Resolve
from gateway.pipeline.validate import Validate
from gateway.policy import Effect


class IntendedCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tool: str
    arguments: dict[str, Any] = {}


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    calls: list[IntendedCall]


class _Verdict:
    """The terminal stage of a plan: decide, then stop."""

    def __init__(self, decide: Decide) -> None:
        self._decide = decide

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        evaluation = await self._decide.evaluate(call)
        assert call.manifest is not None and call.tool is not None
        decision = evaluation.decision
        manifest = call.manifest.manifest
        return {
            "tool": call.context.requested_name,
            "runs_as": call.tool.qualified,
            "effect": decision.effect.value,
            "would_run": decision.effect is Effect.ALLOW,
            "needs_approval": decision.effect is Effect.REQUIRE_APPROVAL,
            "irreversible": manifest.reversibility.value == "irreversible",
            "reversibility": manifest.reversibility.value,
            "impact": manifest.impact.value,
            "manifest_source": call.manifest.source,
            "approvers": [a.model_dump() for a in decision.approvers],
            "reasons": decision.reasons,
            "decision_id": decision.decision_id,
        }


class Planner:
    def __init__(self, resolve: Resolve, validate: Validate, decide: Decide) -> None:
        self._chain = Pipeline([resolve, validate, _Verdict(decide)])

    async def plan_one(self, call: Call) -> dict[str, Any]:
        try:
            return await self._chain.call(call)
        except CallError as exc:
            return {
                "tool": call.context.requested_name,
                "effect": "error",
                "would_run": False,
                "needs_approval": False,
                "irreversible": None,
                "reasons": [exc.message],
            }

    async def plan(self, calls: Sequence[Call]) -> dict[str, Any]:
        rows = []
        for call in calls:
            rows.append(await self.plan_one(call))
            await anyio.sleep(0)  # a long plan shares the event loop with the calls in flight
        return {
            "calls": rows,
            "summary": {
                "total": len(rows),
                "would_run": sum(bool(r["would_run"]) for r in rows),
                "need_approval": sum(bool(r["needs_approval"]) for r in rows),
                "denied": sum(r["effect"] == "deny" for r in rows),
                "errors": sum(r["effect"] == "error" for r in rows),
                "irreversible": sum(bool(r["irreversible"]) for r in rows),
            },
        }
