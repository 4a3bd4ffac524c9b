from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import Effect, interpret

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def test_a_well_formed_decision_is_kept_with_its_id() -> None:
    decision = interpret(
        {
            "effect": "require_approval",
            "reasons": ["r"],
            "approvers": [{"role": "treasury", "count": 2}],
            "obligations": {"mask": ["args.card"], "snapshot_required": True},
        },
        "dec_1",
    )
    assert decision.effect is Effect.REQUIRE_APPROVAL and decision.decision_id == "dec_1"
    assert decision.approvers[0].count == 2 and decision.obligations.mask == ["args.card"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (None, "undefined"),
        ("allow", "not an object"),
        ({"effect": "maybe"}, "malformed"),
        ({"effect": "allow", "approvers": [{"role": "x", "count": 0}]}, "malformed"),
        ({"effect": "allow", "surprise": 1}, "malformed"),
        ({"reasons": ["no effect"]}, "malformed"),
    ],
)
def test_undefined_or_malformed_output_is_a_deny_that_says_why(raw: object, fragment: str) -> None:
    decision = interpret(raw, "dec_2")
    assert decision.effect is Effect.DENY and fragment in decision.reasons[0]


def test_an_approval_without_approvers_asks_one_approver() -> None:
    decision = interpret({"effect": "require_approval"}, "dec_3")
    assert [(a.role, a.count) for a in decision.approvers] == [("approver", 1)]


@given(json_values)
def test_any_output_yields_a_decision_and_only_a_well_formed_allow_allows(raw: object) -> None:
    decision = interpret(raw, "dec_4")
    if decision.effect is Effect.ALLOW:
        assert isinstance(raw, dict) and raw.get("effect") == "allow"
