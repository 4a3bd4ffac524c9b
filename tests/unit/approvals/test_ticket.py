"""The approval state machine (`gateway/approvals/ticket.py`), pure functions over frozen tickets.

Pinned: the transitions of the module docstring's diagram, separation of duties (the asker never
decides, each approver counts once, a rule {role, count} needs `count` distinct holders of
`role`), expiry at `expires_at` exactly, and the call digest as SHA-256 of the RFC 8785 form.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.approvals.ticket import (
    FINAL,
    OPEN,
    AlreadyDecided,
    NotAllowed,
    State,
    Ticket,
    approve,
    call_digest,
    deny,
    expire,
    withdrawn,
)
from gateway.policy.document import ApproverRule

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(minutes=10)


def ticket(*rules: tuple[str, int], **changes: Any) -> Ticket:
    fields: dict[str, Any] = {"state": State.PENDING, **changes}
    return Ticket(
        id="apr_1",
        created_at=T0.isoformat(),
        expires_at=EXPIRES.isoformat(),
        principal="agent",
        workflow="wf",
        correlation_id="c1",
        tool="demo/transfer",
        exposed_name="demo__transfer",
        arguments={"amount_cents": 5},
        display_arguments={"amount_cents": 5},
        decision_id="d1",
        rules=[ApproverRule(role=role, count=count) for role, count in rules or [("treasury", 1)]],
        **fields,
    )


def test_open_and_final_states_partition_the_states() -> None:
    assert set(State) == OPEN | FINAL and not OPEN & FINAL
    assert {State.PENDING, State.APPROVED, State.EXECUTING} == OPEN


def test_a_refused_action_maps_to_its_http_status() -> None:
    assert (NotAllowed.status, AlreadyDecided.status) == (403, 409)


def test_one_approval_of_the_needed_role_approves_and_is_recorded() -> None:
    approved = approve(ticket(), "tom", {"treasury", "approver"}, "fine", T0)
    assert approved.state is State.APPROVED and approved.awaiting() == []
    [approval] = approved.approvals
    assert (approval.approver, approval.roles, approval.comment, approval.at) == (
        "tom",
        ["approver", "treasury"],
        "fine",
        T0.isoformat(),
    )


def test_a_rule_for_two_needs_two_distinct_approvers() -> None:
    first = approve(ticket(("treasury", 2)), "tom", {"treasury"}, "", T0)
    assert first.state is State.PENDING and first.awaiting() == ["1 more of role 'treasury'"]
    with pytest.raises(AlreadyDecided, match="tom has already approved apr_1"):
        approve(first, "tom", {"treasury"}, "again", T0)
    second = approve(first, "tess", {"treasury"}, "", T0)
    assert second.state is State.APPROVED and [a.approver for a in second.approvals] == ["tom", "tess"]


def test_awaiting_names_what_each_rule_still_needs() -> None:
    pending = ticket(("treasury", 2), ("legal", 1))
    assert pending.awaiting() == ["2 more of role 'treasury'", "1 more of role 'legal'"]
    partly = approve(pending, "lee", {"legal"}, "", T0)
    assert partly.state is State.PENDING and partly.awaiting() == ["2 more of role 'treasury'"]


def test_the_agent_that_asked_never_decides_on_its_own_call() -> None:
    with pytest.raises(NotAllowed, match="separation of duties"):
        approve(ticket(), "agent", {"treasury"}, "", T0)
    with pytest.raises(NotAllowed, match="separation of duties"):
        deny(ticket(), "agent", {"treasury"}, "no", T0)


def test_an_approver_without_a_needed_role_can_neither_approve_nor_deny() -> None:
    with pytest.raises(NotAllowed, match=r"alice holds none of the roles this call needs \(2 of 'treasury'\)"):
        approve(ticket(("treasury", 2)), "alice", {"approver"}, "", T0)
    with pytest.raises(NotAllowed, match="alice holds none of the roles that decide on apr_1"):
        deny(ticket(), "alice", {"approver"}, "no", T0)


def test_a_denial_is_final_and_says_who_and_why() -> None:
    denied = deny(ticket(("treasury", 2)), "tom", {"treasury"}, "too much", T0)
    assert (denied.state, denied.denied_by, denied.denial_reason) == (State.DENIED, "tom", "too much")
    assert not withdrawn(denied)
    with pytest.raises(AlreadyDecided, match="apr_1 is denied, no longer pending"):
        approve(denied, "tess", {"treasury"}, "", T0)


@pytest.mark.parametrize("state", [s for s in State if s is not State.PENDING])
def test_only_a_pending_ticket_can_be_decided(state: State) -> None:
    with pytest.raises(AlreadyDecided, match=f"apr_1 is {state.value}, no longer pending"):
        approve(ticket(state=state), "tom", {"treasury"}, "", T0)
    with pytest.raises(AlreadyDecided, match=f"apr_1 is {state.value}, no longer pending"):
        deny(ticket(state=state), "tom", {"treasury"}, "", T0)
    assert expire(ticket(state=state), EXPIRES + timedelta(days=1)) is None


def test_a_ticket_expires_at_its_expiry_time_exactly() -> None:
    just_before = EXPIRES - timedelta(microseconds=1)
    assert expire(ticket(), just_before) is None
    assert approve(ticket(), "tom", {"treasury"}, "", just_before).state is State.APPROVED
    expired = expire(ticket(), EXPIRES)
    assert expired is not None and (expired.state, expired.denial_reason) == (State.EXPIRED, "expired")
    with pytest.raises(AlreadyDecided, match="apr_1 has expired"):
        approve(ticket(), "tom", {"treasury"}, "", EXPIRES)
    with pytest.raises(AlreadyDecided, match="apr_1 has expired"):
        deny(ticket(), "tom", {"treasury"}, "", EXPIRES)


def test_a_transition_returns_a_new_ticket_and_leaves_the_old_one_as_it_was() -> None:
    before = ticket()
    approve(before, "tom", {"treasury"}, "", T0)
    assert before.state is State.PENDING and before.approvals == []


def test_the_call_digest_is_sha256_of_the_rfc8785_array() -> None:
    canonical = '["agent","wf","demo/transfer",{"amount_cents":5,"memo":"réf"}]'.encode()  # sorted keys, raw UTF-8
    expected = hashlib.sha256(canonical).hexdigest()
    assert call_digest("agent", "wf", "demo/transfer", {"memo": "réf", "amount_cents": 5}) == expected


@given(st.dictionaries(st.text(max_size=5), st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=5), max_size=5))
def test_the_digest_ignores_key_order_and_changes_with_every_part(arguments: dict[str, Any]) -> None:
    digest = call_digest("agent", "wf", "demo/t", arguments)
    assert digest == call_digest("agent", "wf", "demo/t", dict(reversed(list(arguments.items()))))
    others = [
        call_digest("agent2", "wf", "demo/t", arguments),
        call_digest("agent", "wf2", "demo/t", arguments),
        call_digest("agent", "wf", "demo/u", arguments),
        call_digest("agent", "wf", "demo/t", {**arguments, "extra": None}),
    ]
    assert digest not in others and len(set(others)) == 4


def test_a_call_with_an_integer_beyond_i_json_range_still_has_a_digest() -> None:
    big, bigger = call_digest("a", "wf", "demo/t", {"n": 2**64}), call_digest("a", "wf", "demo/t", {"n": 2**64 + 1})
    assert len(big) == 64 and big != bigger


rules = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 3)), min_size=1, max_size=3, unique_by=lambda r: r[0]
)
approvers = st.lists(st.frozensets(st.sampled_from(["a", "b", "c", "x"]), max_size=3), max_size=8)


@given(rules, approvers)
def test_a_ticket_is_approved_exactly_when_every_rule_has_enough_distinct_holders(
    wanted: list[tuple[str, int]], people: list[frozenset[str]]
) -> None:
    current = ticket(*wanted)
    accepted: list[frozenset[str]] = []
    for n, roles in enumerate(people):
        if current.state is not State.PENDING:
            break
        if not roles & {role for role, _ in wanted}:
            with pytest.raises(NotAllowed):
                approve(current, f"p{n}", set(roles), "", T0)
            continue
        current = approve(current, f"p{n}", set(roles), "", T0)
        accepted.append(roles)
    met = all(sum(role in roles for roles in accepted) >= count for role, count in wanted)
    assert (current.state is State.APPROVED) == met == (current.awaiting() == [])
