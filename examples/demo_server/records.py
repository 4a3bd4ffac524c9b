"""Key/value documents with a version counter: the demo's "overwrite" kind of side effect.

An update returns the value it replaced, so writing that value back undoes it; writing `null`
deletes the record, so writing back a `previous` of `null` undoes a creation too. Writing the
value a record already has changes nothing, not even the version: repeating an update is harmless.
Values are stored as canonical JSON (sorted keys), so equal values compare equal in the database.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from examples.demo_server.errors import InvalidArgumentError, NotFoundError
from examples.demo_server.models import DeletedRecord, Record, RecordUpdate
from examples.demo_server.store import Database

__all__ = ["Records"]

JsonObject = dict[str, Any]


class Records:
    def __init__(self, db: Database) -> None:
        self._db = db

    def update(self, key: str, value: JsonObject | None) -> RecordUpdate:
        _require_key(key)
        with self._db.write() as db:
            before = _read(db, key)
            if value == before.value:
                version = before.version
            elif value is None:
                db.execute("DELETE FROM records WHERE key = ?", (key,))
                version = 0
            else:
                version = before.version + 1
                db.execute(
                    "INSERT INTO records (key, value, version) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version",
                    (key, _canonical(value), version),
                )
        return RecordUpdate(
            key=key, value=value, version=version, previous=before.value, previous_version=before.version
        )

    def read(self, key: str) -> Record:
        with self._db.read() as db:
            return _read(db, key)

    def delete(self, key: str) -> DeletedRecord:
        with self._db.write() as db:
            record = _read(db, key)
            if record.value is None:
                raise NotFoundError("record", key)
            db.execute("DELETE FROM records WHERE key = ?", (key,))
        return DeletedRecord(key=key, value=record.value, version=record.version)


def _require_key(key: str) -> None:
    if not key:
        raise InvalidArgumentError("a record needs a non-empty key")


def _read(db: sqlite3.Connection, key: str) -> Record:
    row = db.execute("SELECT value, version FROM records WHERE key = ?", (key,)).fetchone()
    if row is None:
        return Record(key=key, value=None, version=0)
    return Record(key=key, value=json.loads(row["value"]), version=row["version"])


def _canonical(value: JsonObject) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
