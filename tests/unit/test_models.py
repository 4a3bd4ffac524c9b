"""The pipeline's vocabulary (`gateway/models.py`): the `_meta` keys clients send, and frozen values."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.models import (
    META_CONFIDENCE,
    META_IDEMPOTENCY_KEY,
    META_STEP,
    META_WORKFLOW,
    CallContext,
    Principal,
    ToolRef,
)


def test_the_meta_keys_are_the_documented_rollgate_names() -> None:
    assert (META_WORKFLOW, META_STEP, META_IDEMPOTENCY_KEY, META_CONFIDENCE) == (
        "rollgate/workflow",
        "rollgate/step",
        "rollgate/idempotency_key",
        "rollgate/confidence",
    )


def test_a_tool_runs_as_upstream_slash_name() -> None:
    assert ToolRef("demo", "transfer").qualified == "demo/transfer"
    assert ToolRef("a/b", "c").qualified == "a/b/c"


def test_a_principal_has_no_roles_unless_given_and_equal_principals_hash_alike() -> None:
    assert Principal("agent").roles == frozenset()
    assert Principal("agent", frozenset({"x"})) == Principal("agent", frozenset({"x"}))
    assert len({Principal("agent"), Principal("agent"), Principal("other")}) == 2


def test_a_call_context_defaults_to_an_external_non_compensation_call_without_meta() -> None:
    context = CallContext(Principal("p"), "demo__t", {"n": 1}, "wf", None, "c1")
    assert (context.meta, context.session_key, context.compensation, context.internal) == ({}, None, False, False)


@pytest.mark.parametrize(
    "value",
    [Principal("p"), ToolRef("u", "t"), CallContext(Principal("p"), "t", {}, "wf", None, "c")],
)
def test_the_values_handed_through_the_stages_are_frozen(value: object) -> None:
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, "changed")
