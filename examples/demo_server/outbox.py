"""Outbound e-mail: the demo's irreversible, outside-world side effect.

Nothing is actually sent; a row in `outbox` stands for a message that has left the building.
There is deliberately no tool to remove one: once sent, an e-mail cannot be recalled, and the
gateway has to treat `send_email` that way (hold it for approval, escalate it on rollback).
"""

from __future__ import annotations

import re
import sqlite3
import time

from examples.demo_server.errors import InvalidArgumentError
from examples.demo_server.models import Email
from examples.demo_server.store import Database, new_id

__all__ = ["Outbox", "require_address"]

ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
"""A deliberately loose shape check (local@domain.tld); the demo delivers nothing."""


def require_address(address: str) -> None:
    if not ADDRESS.fullmatch(address):
        raise InvalidArgumentError(f"not an e-mail address: {address!r}")


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def send(self, to: str, subject: str, body: str) -> Email:
        require_address(to)
        message_id = new_id("msg")
        with self._db.write() as db:
            db.execute(
                "INSERT INTO outbox (id, recipient, subject, body, sent_at) VALUES (?, ?, ?, ?, ?)",
                (message_id, to, subject, body, time.time()),
            )
            row = db.execute("SELECT * FROM outbox WHERE id = ?", (message_id,)).fetchone()
        return _email_of(row)

    def list(self) -> list[Email]:
        with self._db.read() as db:
            rows = db.execute("SELECT * FROM outbox ORDER BY sent_at, id").fetchall()
        return [_email_of(row) for row in rows]


def _email_of(row: sqlite3.Row) -> Email:
    return Email(id=row["id"], to=row["recipient"], subject=row["subject"], body=row["body"], sent_at=row["sent_at"])
