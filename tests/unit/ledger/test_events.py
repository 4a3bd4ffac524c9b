"""Ledger events: one model per entry kind, recording exactly the data each kind always recorded."""

from __future__ import annotations

import inspect
from enum import StrEnum
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.ledger import events
from gateway.ledger.entry import GENESIS, EntryKind, seal
from gateway.ledger.events import EVENTS, LedgerEvent, event_from
from gateway.manifests.registry import Source
from gateway.manifests.schema import Impact, Reversibility
from gateway.policy import Effect

TIME = "2026-12-01T12:00:00+00:00"
WHO = {
    "correlation_id": "call_1",
    "principal": "agent",
    "workflow": "wf_1",
    "step": "2",
    "tool": "bank/transfer",
    "requested_name": "bank__transfer",
}
DECISION = {
    "id": "dec_1",
    "effect": "require_approval",
    "reasons": ["large"],
    "approvers": [{"role": "cfo", "count": 2}],
}
MANIFEST = {
    "source": "manifest",
    "reversibility": "compensable",
    "impact": "high",
    "side_effects": ["money moves"],
    "compensation": "bank/refund",
}
TICKET = {
    "approval_id": "apr_1",
    "call_digest": "d1",
    "correlation_id": "call_1",
    "principal": "agent",
    "workflow": "wf_1",
    "tool": "bank/transfer",
    "state": "pending",
    "decision_id": "dec_1",
    "awaiting": ["2 more of role 'cfo'"],
}

OLD: list[tuple[EntryKind, dict[str, Any]]] = [
    # What the code before typed events wrote, kind by kind (and shape by shape, where a kind has several).
    (
        EntryKind.CALL_INTENT,
        {
            **WHO,
            "roles": ["agent"],
            "arguments": {"amount": 5},
            "manifest": MANIFEST,
            "decision": DECISION,
            "compensation": False,
        },
    ),
    (
        EntryKind.CALL_INTENT,
        {
            **WHO,
            "step": None,
            "roles": [],
            "arguments": {},
            "manifest": None,
            "decision": None,
            "compensation": True,
            "approval": "apr_1",
        },
    ),
    (
        EntryKind.CALL_HELD,
        {
            **WHO,
            "arguments": {"amount": 5},
            "decision": DECISION,
            "answer": {"approval_id": "apr_1", "status": "pending"},
            "call_digest": "d1",
            "approval_id": "apr_1",
        },
    ),
    (EntryKind.CALL_REFUSED, {**WHO, "tool": None, "error": "no tool named 'x'"}),
    (
        EntryKind.CALL_REFUSED,
        {**WHO, "arguments": {"a": 1}, "decision": {**DECISION, "effect": "deny"}, "answer": None},
    ),
    (
        EntryKind.CALL_REFUSED,
        {
            "correlation_id": "c",
            "principal": "agent",
            "workflow": "wf",
            "requested_name": "rollgate_rollback",
            "error": "no",
        },
    ),
    (EntryKind.CALL_REFUSED, {"principal": "agent", "method": "POST", "session": "s1", "error": "not yours"}),
    (EntryKind.CALL_RESULT, {**WHO, "intent_seq": 7, "duration_ms": 1.234, "status": "ok", "result": {"a": 1}}),
    (EntryKind.CALL_RESULT, {**WHO, "intent_seq": 7, "duration_ms": 3.5, "status": "error", "error": "timed out"}),
    (EntryKind.CALL_OUTCOME_UNKNOWN, {**WHO, "intent_seq": 7, "duration_ms": 30000.0, "reason": "cancelled"}),
    (
        EntryKind.CALL_OUTCOME_UNKNOWN,
        {
            "correlation_id": "c",
            "intent_seq": 7,
            "principal": "agent",
            "workflow": None,
            "tool": None,
            "reason": "stop",
        },
    ),
    (
        EntryKind.CALL_SNAPSHOT,
        {
            "correlation_id": "c",
            "principal": "agent",
            "workflow": "wf",
            "tool": "bank/transfer",
            "read": "bank/get_account",
            "arguments": {"id": "acc_1"},
            "snapshot": None,
        },
    ),
    (
        EntryKind.CALL_SNAPSHOT,
        {
            "correlation_id": "c",
            "principal": "a",
            "workflow": "w",
            "tool": None,
            "read": "r",
            "arguments": {},
            "error": "x",
        },
    ),
    (EntryKind.GATEWAY_START, {"version": "0.1.0", "key_id": "k1", "unknown_outcomes": [3, 9], "upstreams": ["bank"]}),
    (EntryKind.GATEWAY_STOP, {"version": "0.1.0"}),
    (EntryKind.KEY_ROTATED, {"key_id": "k1", "reason": "created"}),
    (EntryKind.KEY_ROTATED, {"key_id": "k2", "previous_key_id": "k1", "reason": "rotated"}),
    (EntryKind.POLICY_RELOAD, {"ok": True, "modules": ["a.rego"], "sha256": "ab" * 32, "engine": "regorus"}),
    (EntryKind.POLICY_RELOAD, {"ok": False, "error": "rego_parse_error", "directory": "/p"}),
    (EntryKind.MANIFESTS_RELOAD, {"ok": True, "files": {"demo.yaml": "ab" * 32}, "entries": 4}),
    (EntryKind.MANIFESTS_RELOAD, {"ok": False, "error": "demo.yaml:3: bad", "directory": "/m"}),
    (EntryKind.UPSTREAM_REFUSED, {"upstream": "bank", "error": "speaks no revision we do"}),
    (EntryKind.CHECKPOINT, {"workflow": "wf", "label": "before-import", "after_step": 4}),
    (EntryKind.QUARANTINE, {"workflow": "wf", "reason": "a policy obligation quarantined this workflow"}),
    (EntryKind.QUARANTINE, {"principal": "agent", "reason": "runaway"}),
    (EntryKind.QUARANTINE_RELEASED, {"workflow": "wf", "by": "ops"}),
    (EntryKind.QUARANTINE_RELEASED, {"principal": "agent", "by": "ops"}),
    (
        EntryKind.ROLLBACK_STARTED,
        {
            "workflow": "wf",
            "scope": "all",
            "plan": [{"step": 2, "tool": "b/t", "action": "compensate", "why": "", "resources": [], "status": "done"}],
        },
    ),
    (
        EntryKind.ROLLBACK_FINISHED,
        {
            "workflow": "wf",
            "compensated": [2],
            "not_applied": [],
            "escalated": [{"step": 1, "tool": "m/send", "why": "irreversible", "ticket": "apr_2"}],
            "failed": [],
            "status": "quarantined",
        },
    ),
    (EntryKind.STEP_RECONCILED, {"workflow": "wf", "step": 3, "tool": "b/t", "took_effect": False}),
    (EntryKind.COMPENSATION, {"workflow": "wf", "step": 3, "tool": "b/t", "compensation": "b/undo", "attempts": 1}),
    (EntryKind.APPROVAL_REQUESTED, TICKET),
    (
        EntryKind.APPROVAL_GRANTED,
        {**TICKET, "state": "approved", "approver": "ann", "roles": ["cfo"], "comment": "ok", "complete": True},
    ),
    (EntryKind.APPROVAL_DENIED, {**TICKET, "approver": "ann", "roles": ["cfo"], "reason": "no"}),
    (EntryKind.APPROVAL_DENIED, {**TICKET, "approver": "agent", "reason": "not needed", "withdrawn": True}),
    (EntryKind.APPROVAL_DENIED, {"approval_id": "apr_1", "approver": "ann", "roles": [], "reason": "gone"}),
    (EntryKind.APPROVAL_EXPIRED, {**TICKET, "reason": "expired"}),
    (EntryKind.APPROVAL_EXECUTED, {**TICKET, "state": "executed", "is_error": False}),
    (EntryKind.APPROVAL_FAILED, {**TICKET, "state": "failed", "error": "upstream down"}),
    (EntryKind.APPROVAL_TAMPERED, {**TICKET, "state": "failed", "error": "apr_1 does not match"}),
    (EntryKind.APPROVAL_OUTCOME_UNKNOWN, {**TICKET, "reason": "the gateway stopped"}),
    (EntryKind.APPROVAL_REMEDIATED, {**TICKET, "state": "executed", "approvals": 1}),
    # The kill switch and pinned tool definitions (issue 17).
    (EntryKind.CALLS_STOPPED, {"by": "ops", "reason": "runaway", "all": True}),
    (EntryKind.CALLS_STOPPED, {"by": "ops", "reason": "runaway", "all": False, "principal": "agent"}),
    (EntryKind.CALLS_RESUMED, {"by": "ops", "all": False, "principal": "agent", "stopped_by": "ann"}),
    (
        EntryKind.TOOL_DEFINITION_CHANGED,
        {"tool": "b/t", "pinned_digest": "sha256:aa", "digest": "sha256:bb", "changes": ["description changed"]},
    ),
    (EntryKind.TOOL_DEFINITION_ACCEPTED, {"tool": "b/t", "by": "ops", "digest": "sha256:bb", "previous_digest": "x"}),
    (EntryKind.OPERATOR_REFUSED, {"action": "stop", "status": 403, "reason": "an agent", "principal": "agent"}),
]


def test_every_entry_kind_has_exactly_one_event_model_of_that_kind() -> None:
    assert set(EVENTS) == set(EntryKind)
    assert all(model.kind is kind for kind, model in EVENTS.items())
    concrete = {
        model
        for _, model in inspect.getmembers(events, inspect.isclass)
        if issubclass(model, LedgerEvent) and "kind" in vars(model)
    }
    assert concrete == set(EVENTS.values())


def test_a_kind_without_a_model_or_with_two_stops_the_module_loading() -> None:
    models = [model for model in EVENTS.values() if model.kind is not EntryKind.GATEWAY_STOP]
    with pytest.raises(TypeError, match="without an event model: gateway.stop"):
        events._by_kind(*models)
    with pytest.raises(TypeError, match="call.intent has two event models"):
        events._by_kind(*EVENTS.values(), events.CallIntent)


@pytest.mark.parametrize(("kind", "data"), OLD, ids=[f"{kind.value}-{n}" for n, (kind, _) in enumerate(OLD)])
def test_an_event_records_the_bytes_its_kind_always_recorded(kind: EntryKind, data: dict[str, Any]) -> None:
    event = event_from(kind, data)
    assert type(event).kind is kind and event.data() == data
    assert seal(1, GENESIS, TIME, event.kind, event.data()).body == seal(1, GENESIS, TIME, kind.value, data).body


def test_every_kind_has_a_representative_recorded_shape() -> None:
    assert {kind for kind, _ in OLD} == set(EntryKind)


def test_a_field_left_out_stays_out_and_a_field_set_to_null_is_recorded_null() -> None:
    left_out = events.CallSnapshot(correlation_id="c", principal="a", workflow="w", tool=None, read="r", arguments={})
    assert "snapshot" not in left_out.data() and "error" not in left_out.data()
    seen_nothing = events.CallSnapshot.model_validate({**left_out.data(), "snapshot": None})
    assert "snapshot" in seen_nothing.data() and seen_nothing.data()["snapshot"] is None


def test_data_of_another_shape_is_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        event_from("gateway.stop", {"version": "1", "surprise": True})
    with pytest.raises(ValidationError, match="effect"):
        event_from("call.intent", {**OLD[0][1], "decision": {**DECISION, "effect": "maybe"}})
    with pytest.raises(ValidationError, match="intent_seq"):
        event_from("call.result", {**WHO, "duration_ms": 1.0, "status": "ok"})
    with pytest.raises(ValueError, match="not a valid EntryKind"):
        event_from("call.whatever", {})


def test_events_are_frozen() -> None:
    stop = events.GatewayStop(version="1")
    with pytest.raises(ValidationError, match="frozen"):
        stop.version = "2"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("literal", "vocabulary"),
    [(events.Effect, Effect), (events.Reversibility, Reversibility), (events.Impact, Impact)],
)
def test_the_recorded_vocabularies_are_the_gateways(literal: Any, vocabulary: type[StrEnum]) -> None:
    assert set(get_args(literal)) == {member.value for member in vocabulary}


def test_a_manifests_recorded_source_is_one_the_registry_gives() -> None:
    assert set(get_args(events.ManifestSource)) == set(get_args(Source))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(arguments=st.dictionaries(st.text(max_size=8), json_values, max_size=4), answer=json_values)
def test_any_arguments_and_answer_are_recorded_as_given(arguments: dict[str, Any], answer: Any) -> None:
    held = {**WHO, "arguments": arguments, "decision": None, "answer": answer}
    assert events.CallHeld.model_validate(held).data() == held
