"""Stage 4: ask the policy, and forward only on `allow`.

A deny (or a decision that needs an approval the gateway cannot obtain yet) is answered here with
a tool result that an agent's router can branch on: `isError: true` and the decision
`{effect, reasons, approvers, decision_id}` in `_meta["rollgate/decision"]` (and as structured
content when the tool declares no `outputSchema`: `gateway.pipeline.verdict`). Nothing is forwarded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types

from gateway.clock import SYSTEM, Clock
from gateway.manifests import Reversibility
from gateway.pipeline.call import Call, Grant, Proceed, Result
from gateway.pipeline.per_tool import PerTool
from gateway.pipeline.verdict import decision_in, typed_output, verdict
from gateway.policy import Decision, Effect, Evaluation, PolicyService, build_input
from gateway.policy.document import ApprovalDoc, SignalsDoc
from gateway.workflows import WorkflowBook


class Decide:
    def __init__(self, policy: Callable[[], PolicyService], workflows: WorkflowBook, clock: Clock = SYSTEM) -> None:
        self._policy = policy
        self._clock = clock
        self._workflows = workflows
        self._annotations = PerTool(_annotations)
        """Each tool definition's annotations as the policy reads them, dumped once per definition."""

    async def evaluate(self, call: Call) -> Evaluation:
        """Input, evaluate, interpret: the decision for this call, without acting on it."""
        assert call.tool is not None and call.manifest is not None
        context = call.context
        annotations = {} if call.definition is None else dict(self._annotations(call.definition))
        workflow = self._workflows.view(context.workflow_id)
        grant = call.approval
        approval = None if grant is None else ApprovalDoc(id=grant.approval_id, approvers=list(grant.approvers))
        policy_input = build_input(
            context,
            call.tool,
            call.manifest,
            workflow,
            annotations,
            now=self._clock.now(),
            principal=self._workflows.principal(context.principal),
            approval=approval,
            signals=SignalsDoc.model_construct(**call.signals) if call.signals else None,
            definition_changed=call.definition_changed,
        )
        evaluation = await self._policy().evaluate(policy_input)
        call.decision = evaluation.decision if grant is None else _under_approval(evaluation.decision, grant)
        return evaluation

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        await self.evaluate(call)
        decision = call.decision
        assert decision is not None
        if decision.effect is Effect.DENY or (call.approval is not None and decision.effect is not Effect.ALLOW):
            return refusal(decision, call.definition, _retry_after(call))
        # require_approval proceeds to the approval stage; Forward refuses anything not allowed.
        result = await proceed(call)
        # A held call counts once, when it runs; a call a later stage refused (no before-image, a
        # lease another workflow holds) did not run and counts not at all.
        if decision.effect is Effect.ALLOW and decision_in(result) is None:
            assert call.manifest is not None
            mutation = call.manifest.manifest.reversibility is not Reversibility.READ_ONLY
            self._workflows.record(call.context.workflow_id, mutation=mutation, principal=call.context.principal.id)
        return result


def _under_approval(decision: Decision, grant: Grant) -> Decision:
    """The decision at execution of an approved call: the held decision's masks stay in force,
    the reasons say who approved, a require_approval that the approvals already meet is an allow,
    and any other effect than allow refuses the call."""
    mask = [*decision.obligations.mask, *(p for p in grant.mask if p not in decision.obligations.mask)]
    reasons = [grant.summary or f"approved by {', '.join(grant.approvers)}", *decision.reasons]
    effect = decision.effect
    if effect is Effect.REQUIRE_APPROVAL:
        # A policy that does not read `input.approval` asks again for what people have given.
        if all(grant.meets(rule.role, rule.count) for rule in decision.approvers):
            effect = Effect.ALLOW
        else:
            reasons.append("policy requires approvals at execution that this approval does not have")
    return decision.model_copy(
        update={
            "effect": effect,
            "obligations": decision.obligations.model_copy(update={"mask": mask}),
            "reasons": reasons,
        }
    )


def _retry_after(call: Call) -> float | None:
    """When a guard that tripped says the call may succeed again (a rate limit, an open breaker)."""
    if not call.signals:
        return None
    return SignalsDoc.model_construct(**call.signals).retry_after()


def refusal(decision: Decision, tool: types.Tool | None, retry_after: float | None = None) -> Result:
    """The answer to a call policy does not let run; `tool` is its definition, whose
    `outputSchema` decides where the decision goes (`gateway.pipeline.verdict`). `retry_after`
    (seconds) is given when a tripped guard knows when the same call may succeed."""
    reasons = "; ".join(decision.reasons)
    if decision.effect is Effect.REQUIRE_APPROVAL:
        approvers = ", ".join(f"{a.count} of role {a.role!r}" for a in decision.approvers)
        text = (
            f"Held by policy: this call needs approval ({approvers}), and approvals are turned off on this "
            f"gateway, so it did not run and no approval was requested. Reasons: {reasons}. Ask the "
            f"gateway's operator to turn approvals on or to change the policy (decision {decision.decision_id})."
        )
    elif retry_after is not None:
        text = (
            f"Denied by policy: {reasons}. The call did not run; it may succeed after {retry_after:.3g} s "
            f"(decision {decision.decision_id})."
        )
    else:
        text = (
            f"Denied by policy: {reasons}. The call did not run; the same call will be denied again "
            f"(decision {decision.decision_id})."
        )
    structured: dict[str, Any] = {
        "effect": decision.effect.value,
        "reasons": decision.reasons,
        "approvers": [a.model_dump() for a in decision.approvers],
        "decision_id": decision.decision_id,
    }
    if retry_after is not None:
        structured["retry_after"] = round(retry_after, 3)
    return verdict(text, structured, typed=typed_output(tool))


def _annotations(tool: types.Tool) -> dict[str, Any]:
    return {} if tool.annotations is None else tool.annotations.model_dump(by_alias=True, exclude_none=True)
