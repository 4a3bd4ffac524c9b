"""Rollback scopes are exact: the planner undoes exactly what was named, and names what it does not have."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidArgumentsError, UnknownScopeError
from gateway.saga.model import Checkpoint, Compensation, Step, StepStatus, plan, rollback_scope


def step(seq: int, *, resources: list[str] | None = None, status: StepStatus = StepStatus.DONE) -> Step:
    return Step(
        seq=seq, workflow="wf", correlation_id=f"c{seq}", principal="a", tool="kv/set", exposed_name="kv__set",
        arguments={}, reversibility="compensable", impact="low", resources=resources or [], status=status,
        compensation=Compensation(tool="kv__undo", arguments={"seq": seq}),
    )  # fmt: skip


STEPS = [step(1, resources=["kv:a"]), step(4, resources=["kv:b"]), step(9, resources=["kv:a"])]
MARK = Checkpoint(workflow="wf", label="after-1", after_seq=1, created_at="2026-01-01T00:00:00+00:00")


@pytest.mark.parametrize(
    "selection",
    [{"steps": []}, {"resource": ""}, {"to_checkpoint": ""}, {"steps": [[]]}, {"steps": [1], "resource": "x"}],
)
def test_an_empty_or_mixed_rollback_selection_is_an_error_never_the_whole_workflow(selection: dict) -> None:
    with pytest.raises(InvalidArgumentsError):
        rollback_scope(selection)


def test_rollback_scopes_are_plain_json_and_a_null_key_is_absent() -> None:
    assert rollback_scope({}) == ("all", {})
    assert rollback_scope({"steps": [3, 1, 3]}) == ("steps", {"step_seqs": [1, 3]})
    assert rollback_scope({"resource": "customer:1", "dry_run": True}) == ("resource", {"resource": "customer:1"})
    assert rollback_scope({"to_checkpoint": None, "steps": [2], "resource": None}) == ("steps", {"step_seqs": [2]})


@given(named=st.sets(st.sampled_from([1, 4, 9]), min_size=1))
def test_named_steps_are_undone_and_no_other_newest_first(named: set[int]) -> None:
    actions = plan(STEPS, [], "steps", step_seqs=named)
    assert [a.step.seq for a in actions] == sorted(named, reverse=True)
    assert all(a.action == "compensate" for a in actions)


@given(named=st.sets(st.integers(min_value=1, max_value=50), min_size=1))
def test_a_step_the_workflow_does_not_have_is_named_and_nothing_is_planned(named: set[int]) -> None:
    missing = sorted(named - {1, 4, 9})
    if not missing:
        assert [a.step.seq for a in plan(STEPS, [], "steps", step_seqs=named)] == sorted(named, reverse=True)
        return
    with pytest.raises(UnknownScopeError, match=f"no step {missing[0]}[ ,]"):
        plan(STEPS, [], "steps", step_seqs=named)


def test_a_named_step_already_compensated_has_nothing_left_to_undo() -> None:
    done = [step(1), step(2, status=StepStatus.COMPENSATED)]
    assert plan(done, [], "steps", step_seqs=[2]) == []


@pytest.mark.parametrize(
    ("scope", "selection", "message"),
    [
        ("checkpoint", {"checkpoint": "nope"}, "no checkpoint 'nope'"),
        ("resource", {"resource": "kv:zz"}, "touches resource 'kv:zz'"),
        ("steps", {"step_seqs": []}, "no step"),
    ],
)
def test_an_unknown_checkpoint_or_resource_is_an_error_naming_it(
    scope: Any, selection: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnknownScopeError, match=message):
        plan(STEPS, [MARK], scope, **selection)


def test_a_checkpoint_and_a_resource_select_exactly_their_steps() -> None:
    assert [a.step.seq for a in plan(STEPS, [MARK], "checkpoint", checkpoint="after-1")] == [9, 4]
    assert [a.step.seq for a in plan(STEPS, [MARK], "resource", resource="kv:a")] == [9, 1]
