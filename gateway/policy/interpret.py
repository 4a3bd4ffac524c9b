"""Step three of three: turn what the engine returned into a `Decision`, failing closed.

An undefined result, a result that is not a decision document, or an effect outside the fixed
vocabulary is a deny with a reason that says so; the gateway never guesses an allow.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from gateway.policy.document import ApproverRule, Decision, Effect

logger = logging.getLogger(__name__)


def interpret(raw: Any, decision_id: str) -> Decision:
    if raw is None:
        return deny(decision_id, "the policy produced no decision (undefined): denied by default")
    if not isinstance(raw, dict):
        logger.error("policy decision %s is not an object: %r", decision_id, raw)
        return deny(decision_id, "the policy's decision is not an object: denied")
    try:
        decision = Decision.model_validate({**raw, "decision_id": decision_id})
    except ValidationError as exc:
        logger.error("policy decision %s is malformed: %s", decision_id, exc)
        return deny(decision_id, f"the policy's decision is malformed ({exc.error_count()} errors): denied")
    if decision.effect is Effect.REQUIRE_APPROVAL and not decision.approvers:
        return decision.model_copy(update={"approvers": [ApproverRule(role="approver", count=1)]})
    return decision


def deny(decision_id: str, reason: str) -> Decision:
    return Decision(effect=Effect.DENY, reasons=[reason], decision_id=decision_id)
