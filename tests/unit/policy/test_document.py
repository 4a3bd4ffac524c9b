"""The policy documents, version `rollgate.policy/v1` (`gateway/policy/document.py`).

Pinned: the version string, the three effects, the bounds of an approver rule and of an approval
wait, unknown keys refused (a typo in a policy's answer is not silently ignored), and the
committed JSON Schemas equal to what the models export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.policy.document import (
    INPUT_VERSION,
    ApproverRule,
    Decision,
    Effect,
    Obligations,
    PolicyInput,
    PrincipalDoc,
    WorkflowDoc,
)

ROOT = Path(__file__).resolve().parents[3]


def test_the_input_version_and_the_effects_are_the_documented_ones() -> None:
    assert INPUT_VERSION == "rollgate.policy/v1"
    assert PolicyInput.model_fields["version"].default == INPUT_VERSION
    assert [e.value for e in Effect] == ["allow", "deny", "require_approval"]


def test_a_bare_decision_has_no_reasons_approvers_or_obligations() -> None:
    decision = Decision.model_validate({"effect": "deny"})
    assert decision.effect is Effect.DENY and (decision.reasons, decision.approvers) == ([], [])
    assert decision.obligations == Obligations()
    assert (decision.obligations.mask, decision.obligations.approval_mode) == ([], None)


@given(st.integers(1, 20))
def test_an_approver_rule_asks_for_one_to_twenty_people(count: int) -> None:
    assert ApproverRule(role="treasury", count=count).count == count


@pytest.mark.parametrize("rule", [{"role": "t", "count": 0}, {"role": "t", "count": 21}, {"role": ""}, {"count": 1}])
def test_an_approver_rule_out_of_bounds_is_refused(rule: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ApproverRule.model_validate(rule)


def test_an_approver_rule_asks_for_one_person_by_default() -> None:
    assert ApproverRule(role="treasury").count == 1


@pytest.mark.parametrize(
    "obligations",
    [
        {"max_approval_wait_seconds": 0},
        {"max_approval_wait_seconds": -5},
        {"approval_mode": "later"},
        {"mask": "args.card"},
        {"snapshot": True},
    ],
)
def test_obligations_outside_the_schema_are_refused(obligations: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Decision.model_validate({"effect": "allow", "obligations": obligations})


def test_an_unknown_key_in_a_decision_is_refused_not_ignored() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Decision.model_validate({"effect": "allow", "reason": ["typo for reasons"]})


def test_a_workflow_status_is_active_quarantined_or_rolled_back() -> None:
    assert WorkflowDoc(id="wf").status == "active"
    for status in ["active", "quarantined", "rolled_back"]:
        assert WorkflowDoc(id="wf", status=status).status == status  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        WorkflowDoc(id="wf", status="paused")  # type: ignore[arg-type]


def test_documents_are_frozen() -> None:
    principal = PrincipalDoc(id="p", roles=[])
    with pytest.raises(ValidationError, match="frozen"):
        principal.quarantined = True  # type: ignore[misc]


@pytest.mark.parametrize(("name", "model"), [("input", PolicyInput), ("decision", Decision)])
def test_the_committed_json_schemas_are_the_ones_the_models_export(name: str, model: Any) -> None:
    committed = json.loads((ROOT / "policies" / f"{name}.schema.json").read_text())
    assert committed == model.model_json_schema()
