"""Durable approval tickets in SQLite; every change is a compare-and-set on the ticket's version.

Two approvers acting at once, or two processes (the gateway and the CLI), can never both move a
ticket from the same state: the loser's update matches no row and is retried or refused.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from gateway.approvals.ticket import OPEN, State, Ticket
from gateway.ledger.events import ApprovalEvent
from gateway.store.connection import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, version INTEGER NOT NULL, dedup_key TEXT NOT NULL,
    principal TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, document TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_state ON tickets (state, created_at);
CREATE INDEX IF NOT EXISTS tickets_dedup ON tickets (dedup_key, state);
CREATE TABLE IF NOT EXISTS call_tasks (
    id TEXT PRIMARY KEY, principal TEXT NOT NULL, created_at TEXT NOT NULL, result TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, ticket TEXT NOT NULL, kind TEXT NOT NULL, document TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0);
"""


class ApprovalStore:
    def __init__(self, path: Path) -> None:
        self._db = open_durable(path, _SCHEMA)
        self._lock = threading.Lock()

    def create(self, ticket: Ticket) -> Ticket:
        with self._lock:
            self._db.execute(
                "INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ticket.id,
                    ticket.state.value,
                    ticket.version,
                    ticket.dedup_key,
                    ticket.principal,
                    ticket.created_at,
                    ticket.expires_at,
                    ticket.model_dump_json(),
                ),
            )
        return ticket

    def undelivered(self) -> list[tuple[int, str, str, dict[str, object]]]:
        """Events (id, ticket, kind, document) not yet written to the ledger, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, ticket, kind, document FROM events WHERE delivered = 0 ORDER BY id")
            return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows.fetchall()]

    def delivered(self, event_id: int) -> None:
        with self._lock:
            self._db.execute("UPDATE events SET delivered = 1 WHERE id = ?", (event_id,))

    def get(self, ticket_id: str) -> Ticket | None:
        with self._lock:
            row = self._db.execute("SELECT document FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return Ticket.model_validate_json(row[0]) if row else None

    def same_call(self, dedup_key: str, executed_since: str) -> Ticket | None:
        """The open ticket with this call digest, else the newest one that ran since then."""
        marks = ",".join("?" * len(OPEN))
        with self._lock:
            row = self._db.execute(
                f"SELECT document FROM tickets WHERE dedup_key = ? AND (state IN ({marks}) "
                "OR (state = ? AND created_at >= ?)) ORDER BY state = ?, created_at DESC LIMIT 1",
                (dedup_key, *[s.value for s in OPEN], State.EXECUTED.value, executed_since, State.EXECUTED.value),
            ).fetchone()
        return Ticket.model_validate_json(row[0]) if row else None

    def list(self, state: State | None = None, limit: int = 200) -> list[Ticket]:
        query = "SELECT document FROM tickets"
        params: tuple[object, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            params = (state.value,)
        query += " ORDER BY created_at DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, limit)).fetchall()
        return [Ticket.model_validate_json(row[0]) for row in rows]

    def waiting(self) -> tuple[int, str | None]:
        """(how many tickets are pending, when the oldest was created): counted by the index, for
        the status report and the queue-depth gauge, without reading any ticket."""
        with self._lock:
            count, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(created_at) FROM tickets WHERE state = ?", (State.PENDING.value,)
            ).fetchone()
        return int(count), oldest

    def swap(self, old: Ticket, new: Ticket, event: ApprovalEvent | None = None) -> Ticket | None:
        """Store `new` only if the ticket is still at `old`'s version, with an outbox event in the
        same transaction (its kind and data; the queue adds the ticket's summary when it relays it
        to the ledger); the stored ticket, or None when someone else changed it first."""
        stored = new.model_copy(update={"version": old.version + 1})
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "UPDATE tickets SET state = ?, version = ?, document = ? WHERE id = ? AND version = ?",
                    (stored.state.value, stored.version, stored.model_dump_json(), old.id, old.version),
                )
                if cursor.rowcount == 1 and event is not None:
                    self._db.execute(
                        "INSERT INTO events (ticket, kind, document) VALUES (?, ?, ?)",
                        (old.id, event.kind.value, json.dumps(event.data())),
                    )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return stored if cursor.rowcount == 1 else None

    def add_call_task(self, task_id: str, principal: str, created_at: str, result: dict[str, object]) -> None:
        """A task-augmented call that was not held: it ran at once; its task keeps the result."""
        with self._lock:
            self._db.execute(
                "INSERT INTO call_tasks VALUES (?, ?, ?, ?)", (task_id, principal, created_at, json.dumps(result))
            )

    def call_task(self, task_id: str) -> tuple[str, str, dict[str, object]] | None:
        """(principal, created_at, result) of such a task."""
        with self._lock:
            row = self._db.execute(
                "SELECT principal, created_at, result FROM call_tasks WHERE id = ?", (task_id,)
            ).fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
