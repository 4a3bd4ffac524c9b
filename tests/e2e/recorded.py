"""The ledger an end-to-end gateway wrote, read back entry by entry as typed events."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.ledger.entry import EntryKind
from gateway.ledger.events import LedgerEvent, event_from
from gateway.store import SqliteLedgerStore


def recorded_kinds(state_dir: Path) -> set[EntryKind]:
    """The kinds on record in `state_dir`'s ledger; every entry must parse as its kind's event and
    record exactly what that event records (`ValidationError` or `AssertionError` otherwise)."""
    return {event.kind for event in recorded_events(state_dir)}


def recorded_events(state_dir: Path) -> list[LedgerEvent]:
    store = SqliteLedgerStore(state_dir / "ledger.db", writer=False)
    try:
        documents = [json.loads(row.body) for row in store.rows()]
    finally:
        store.close()
    found = []
    for document in documents:
        event = event_from(document["kind"], document["data"])
        assert event.data() == document["data"], document
        found.append(event)
    return found
