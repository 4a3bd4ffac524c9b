"""The approval queue writes through its `Record` port: every action from the store's outbox reaches
the ledger as its typed event, with the ticket's summary as it stands when relayed."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.store import ApprovalStore
from gateway.approvals.ticket import State
from gateway.clock import FixedClock
from gateway.ledger.events import ApprovalDenied, ApprovalGranted, ApprovalRequested, LedgerEvent
from gateway.models import Principal
from gateway.policy.document import ApproverRule
from tests.unit.approvals.test_store import ticket

pytestmark = pytest.mark.anyio

SUMMARY = {
    "approval_id": "apr_1",
    "call_digest": "digest-1",
    "correlation_id": "c1",
    "principal": "agent",
    "workflow": "wf",
    "tool": "demo/transfer",
    "decision_id": "d1",
}


async def relayed(queue: ApprovalQueue, recorded: list[LedgerEvent], count: int) -> None:
    """Run the queue's loop until `count` events were recorded."""
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.run)
            while len(recorded) < count:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()


def queue_recording(tmp_path: Path) -> tuple[ApprovalQueue, list[LedgerEvent]]:
    recorded: list[LedgerEvent] = []

    async def record(event: LedgerEvent) -> None:
        recorded.append(event)

    store = ApprovalStore(tmp_path / "approvals.db")
    queue = ApprovalQueue(
        store, ttl_seconds=60, poll_seconds=0.01, clock=FixedClock(datetime(2026, 12, 1, 12, 30, tzinfo=UTC))
    )
    queue.record = record
    return queue, recorded


async def test_a_request_and_an_approvers_grant_reach_the_ledger_as_typed_events(tmp_path: Path) -> None:
    queue, recorded = queue_recording(tmp_path)
    held = ticket(rules=[ApproverRule(role="cfo", count=1)])
    await queue.request(held)
    queue.decide("apr_1", Principal("ann", frozenset({"cfo"})), approved=True, text="fine")
    await relayed(queue, recorded, 2)
    requested, granted = recorded[:2]
    assert requested == ApprovalRequested(**SUMMARY, state="pending", awaiting=["1 more of role 'cfo'"])
    assert isinstance(granted, ApprovalGranted)
    assert granted.data() == {
        **SUMMARY,
        "state": "approved",
        "awaiting": [],
        "approver": "ann",
        "roles": ["cfo"],
        "comment": "fine",
        "complete": True,
    }


async def test_an_outbox_row_stored_before_typed_events_is_relayed_as_the_same_event(tmp_path: Path) -> None:
    queue, recorded = queue_recording(tmp_path)
    queue.store.create(ticket(state=State.DENIED))
    with sqlite3.connect(tmp_path / "approvals.db") as db:  # the stored form then: no approval_id in it
        document = {"approver": "ann", "roles": ["cfo"], "reason": "too much"}
        db.execute(
            "INSERT INTO events (ticket, kind, document) VALUES (?, ?, ?)",
            ("apr_1", "approval.denied", json.dumps(document)),
        )
    await relayed(queue, recorded, 1)
    assert recorded == [ApprovalDenied(**SUMMARY, state="denied", awaiting=[], **document)]
    assert queue.store.undelivered() == []
