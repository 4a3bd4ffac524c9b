"""What a witness remembers: the latest checkpoint it cosigned for each log origin (SQLite, 0600).

tlog-witness requires the witness to persist a checkpoint before it answers, and to check the old
size and record the new checkpoint atomically, or two requests racing could roll a log back. So
`replace` is a compare-and-set in SQL: the row changes only if it still holds the size and root
the request was checked against; the loser matches nothing and is answered 409.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import StoreError
from gateway.store.connection import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL,
    note TEXT NOT NULL, cosignature TEXT NOT NULL, cosigned_at INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Witnessed:
    """The latest checkpoint cosigned for one origin."""

    origin: str
    size: int
    root: bytes
    note: str
    """The log's checkpoint as submitted (its signature lines included)."""
    cosignature: str
    """This witness's signature line(s) on it."""
    cosigned_at: int

    def cosigned_note(self) -> str:
        return self.note + self.cosignature


class WitnessState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_durable(path, _SCHEMA)
        self._lock = threading.Lock()

    def latest(self, origin: str) -> Witnessed | None:
        with self._lock:
            row = self._db.execute(
                "SELECT origin, size, root, note, cosignature, cosigned_at FROM cosigned WHERE origin = ?", (origin,)
            ).fetchone()
        return Witnessed(row[0], row[1], bytes(row[2]), row[3], row[4], row[5]) if row else None

    def replace(self, expected: Witnessed | None, new: Witnessed) -> bool:
        """Record `new` if the origin's record is still `expected` (None: no record yet)."""
        values = (new.size, new.root, new.note, new.cosignature, new.cosigned_at)
        with self._lock:
            if expected is None:
                cursor = self._db.execute(
                    "INSERT INTO cosigned (origin, size, root, note, cosignature, cosigned_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO NOTHING",
                    (new.origin, *values),
                )
            else:
                cursor = self._db.execute(
                    "UPDATE cosigned SET size = ?, root = ?, note = ?, cosignature = ?, cosigned_at = ? "
                    "WHERE origin = ? AND size = ? AND root = ?",
                    (*values, expected.origin, expected.size, expected.root),
                )
        return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_state(path: Path) -> WitnessState:
    try:
        return WitnessState(path)
    except sqlite3.Error as exc:
        raise StoreError(f"witness state {path}: {exc}") from None
