"""Stage 1a: the kill switch. While an operator has stopped everyone, or the caller, a new call is
refused here, before anything else is looked at (confinement, resolution, policy, upstreams).

It sits right after `RecordOutcome`, so each refusal is on record (`call.refused`, with the answer
naming who stopped the calls). The answer is a tool error result (`verdict.py`) whose text says who
stopped the calls, when and why, and its decision document `effect: deny`, `stopped: {...}`.
Calls already past this stage when the switch is thrown finish as usual.

Not policy: no Rego can let a call past a stop, and a stop holds whatever policy is loaded.
Not stopped: the gateway's own calls (`context.internal`: a rollback's compensations and
verification reads), so a stopped agent's work can still be rolled back; and the meta-tools,
answered at the head of the pipeline (an agent may still read its status or roll back its own
workflow, which only runs compensations).
"""

from __future__ import annotations

from gateway.guards.stop import StopSwitch
from gateway.ids import new_id
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.verdict import typed_output, verdict
from gateway.policy import Decision, Effect


class Stop:
    def __init__(self, switch: StopSwitch) -> None:
        self._switch = switch

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        context = call.context
        if context.internal:
            return await proceed(call)
        stop = self._switch.stopped_for(context.principal.id)
        if stop is None:
            return await proceed(call)
        text = stop.refusal()
        call.refused_by = "stop"
        # A decision of its own, so that the ledger's refusal and an approved call's failure at
        # execution (`Gateway._execute_approved`) give the stop as the reason.
        call.decision = Decision(effect=Effect.DENY, reasons=[text], decision_id=new_id("dec"))
        document = {
            "effect": "deny",
            "reasons": [text],
            "approvers": [],
            "decision_id": call.decision.decision_id,
            "stopped": stop.model_dump(mode="json"),
        }
        return verdict(text, document, typed=typed_output(call.definition))
