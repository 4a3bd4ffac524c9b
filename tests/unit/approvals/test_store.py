"""Durable tickets in real SQLite (`gateway/approvals/store.py`): compare-and-set on the version,
an outbox event in the same transaction, and the lookup of a retried call by its digest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.approvals.store import ApprovalStore
from gateway.approvals.ticket import State, Ticket
from gateway.ledger.events import ApprovalDenied, ApprovalExpired, ApprovalGranted


def ticket(id: str = "apr_1", created: str = "2026-12-01T12:00:00+00:00", **changes: Any) -> Ticket:
    fields: dict[str, Any] = {"state": State.PENDING, "dedup_key": "digest-1", **changes}
    return Ticket(
        id=id,
        created_at=created,
        expires_at="2026-12-01T13:00:00+00:00",
        principal="agent",
        workflow="wf",
        correlation_id="c1",
        tool="demo/transfer",
        exposed_name="demo__transfer",
        arguments={"amount_cents": 5},
        display_arguments={"amount_cents": 5},
        decision_id="d1",
        **fields,
    )


@pytest.fixture
def store(tmp_path: Path) -> ApprovalStore:
    return ApprovalStore(tmp_path / "approvals.db")


def test_a_created_ticket_reads_back_equal_and_an_unknown_id_is_none(store: ApprovalStore) -> None:
    made = ticket(meta={"rollgate/workflow": "wf"}, snapshot={"balance": 10})
    assert store.create(made) == made
    assert store.get("apr_1") == made
    assert store.get("apr_nope") is None


def test_the_database_file_is_private(tmp_path: Path) -> None:
    ApprovalStore(tmp_path / "approvals.db").create(ticket())
    assert (tmp_path / "approvals.db").stat().st_mode & 0o777 == 0o600


def test_a_swap_bumps_the_version_and_writes_its_event_in_the_same_transaction(store: ApprovalStore) -> None:
    old = store.create(ticket())
    new = old.model_copy(update={"state": State.APPROVED})
    granted = ApprovalGranted(approval_id="apr_1", approver="tom", roles=["approver"], comment="ok", complete=True)
    stored = store.swap(old, new, granted)
    assert stored is not None and stored.version == 1 and stored.state is State.APPROVED
    assert store.get("apr_1") == stored
    document = {"approval_id": "apr_1", "approver": "tom", "roles": ["approver"], "comment": "ok", "complete": True}
    assert store.undelivered() == [(1, "apr_1", "approval.granted", document)]


def test_a_swap_from_a_stale_version_changes_nothing_and_writes_no_event(store: ApprovalStore) -> None:
    old = store.create(ticket())
    granted = ApprovalGranted(approval_id="apr_1", approver="tom", roles=[], comment="", complete=True)
    denied = ApprovalDenied(approval_id="apr_1", approver="ann", roles=[], reason="no")
    won = store.swap(old, old.model_copy(update={"state": State.APPROVED}), granted)
    lost = store.swap(old, old.model_copy(update={"state": State.DENIED}), denied)
    assert won is not None and lost is None
    current = store.get("apr_1")
    assert current is not None and (current.state, current.version) == (State.APPROVED, 1)
    assert [kind for _, _, kind, _ in store.undelivered()] == ["approval.granted"]


def test_two_stores_on_one_file_see_each_others_swaps(tmp_path: Path) -> None:
    gateway, cli = ApprovalStore(tmp_path / "a.db"), ApprovalStore(tmp_path / "a.db")
    old = gateway.create(ticket())
    assert cli.swap(old, old.model_copy(update={"state": State.DENIED})) is not None
    assert gateway.swap(old, old.model_copy(update={"state": State.APPROVED})) is None
    current = gateway.get("apr_1")
    assert current is not None and current.state is State.DENIED


def test_a_delivered_event_leaves_the_outbox(store: ApprovalStore) -> None:
    old = store.create(ticket())
    store.swap(old, old.model_copy(update={"state": State.APPROVED}), ApprovalExpired(approval_id="apr_1", reason="a"))
    store.create(second := ticket("apr_2"))
    store.swap(
        second, second.model_copy(update={"state": State.DENIED}), ApprovalExpired(approval_id="apr_2", reason="b")
    )
    store.delivered(1)
    assert [(ticket_id, document["reason"]) for _, ticket_id, _, document in store.undelivered()] == [("apr_2", "b")]


def same_call_id(store: ApprovalStore, since: str = "2026-12-01T00:00:00+00:00") -> str | None:
    found = store.same_call("digest-1", since)
    return found.id if found is not None else None


def test_a_retried_call_finds_its_open_ticket_before_one_that_already_ran(store: ApprovalStore) -> None:
    store.create(ticket("apr_ran", "2026-12-01T12:00:00+00:00", state=State.EXECUTED))
    assert same_call_id(store) == "apr_ran"
    store.create(ticket("apr_open", "2026-12-01T11:00:00+00:00"))
    assert same_call_id(store) == "apr_open"


def test_a_ticket_that_ran_before_the_window_or_was_denied_is_not_the_same_call(store: ApprovalStore) -> None:
    store.create(ticket("apr_old", "2026-11-30T12:00:00+00:00", state=State.EXECUTED))
    store.create(ticket("apr_denied", "2026-12-01T12:00:00+00:00", state=State.DENIED))
    store.create(ticket("apr_other", "2026-12-01T12:00:00+00:00", dedup_key="digest-2"))
    assert same_call_id(store) is None


def test_listing_is_newest_first_filtered_by_state_and_limited(store: ApprovalStore) -> None:
    for n, state in enumerate([State.PENDING, State.DENIED, State.PENDING, State.EXECUTED]):
        store.create(ticket(f"apr_{n}", f"2026-12-01T12:0{n}:00+00:00", state=state))
    assert [t.id for t in store.list()] == ["apr_3", "apr_2", "apr_1", "apr_0"]
    assert [t.id for t in store.list(State.PENDING)] == ["apr_2", "apr_0"]
    assert [t.id for t in store.list(limit=2)] == ["apr_3", "apr_2"]


def test_waiting_counts_the_pending_tickets_and_gives_the_oldest(store: ApprovalStore) -> None:
    assert store.waiting() == (0, None)
    for n, state in enumerate([State.DENIED, State.PENDING, State.PENDING, State.EXECUTED]):
        store.create(ticket(f"apr_{n}", f"2026-12-01T12:0{n}:00+00:00", state=state))
    assert store.waiting() == (2, "2026-12-01T12:01:00+00:00")


def test_a_call_task_keeps_its_principal_time_and_result(store: ApprovalStore) -> None:
    result = {"content": [{"type": "text", "text": "ok"}], "isError": False}
    store.add_call_task("task_1", "agent", "2026-12-01T12:00:00+00:00", result)
    assert store.call_task("task_1") == ("agent", "2026-12-01T12:00:00+00:00", result)
    assert store.call_task("task_2") is None


def test_tickets_survive_a_reopen(tmp_path: Path) -> None:
    first = ApprovalStore(tmp_path / "a.db")
    made = first.create(ticket())
    first.close()
    assert ApprovalStore(tmp_path / "a.db").get("apr_1") == made
