"""The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a commit is on disk."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from gateway.store.base import LedgerRow
from gateway.store.connection import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY, body BLOB NOT NULL, entry_hash TEXT NOT NULL, leaf BLOB NOT NULL,
    kind TEXT NOT NULL, workflow TEXT, principal TEXT, tool TEXT, correlation TEXT, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_workflow ON ledger (workflow, seq);
CREATE INDEX IF NOT EXISTS ledger_correlation ON ledger (correlation);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, size INTEGER NOT NULL, note TEXT NOT NULL, key_id TEXT NOT NULL);
"""
_COLUMNS = "seq, body, entry_hash, leaf, kind, workflow, principal, tool, correlation, time"
_FILTERS = {"kind", "workflow", "principal", "tool", "correlation"}


class SqliteLedgerStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_durable(path, _SCHEMA)
        self._lock = threading.Lock()

    def append(self, rows: Sequence[LedgerRow]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT INTO ledger ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            r.seq,
                            r.body,
                            r.entry_hash,
                            r.leaf,
                            r.kind,
                            r.workflow,
                            r.principal,
                            r.tool,
                            r.correlation,
                            r.time,
                        )
                        for r in rows
                    ],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def tail(self) -> LedgerRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        return LedgerRow(*row) if row else None

    def leaves(self) -> list[bytes]:
        with self._lock:
            return [_blob(leaf) for (leaf,) in self._db.execute("SELECT leaf FROM ledger ORDER BY seq")]

    def rows(self, *, start: int = 1, **filters: str | None) -> Iterator[LedgerRow]:
        clauses, params = ["seq >= ?"], [start]
        for key, value in filters.items():
            if value is not None and key in _FILTERS:
                clauses.append(f"{key} = ?")
                params.append(value)  # type: ignore[arg-type]
        query = f"SELECT {_COLUMNS} FROM ledger WHERE {' AND '.join(clauses)} ORDER BY seq"
        reader = sqlite3.connect(self.path, timeout=30)
        try:
            for row in reader.execute(query, params):
                yield LedgerRow(row[0], _blob(row[1]), row[2], _blob(row[3]), *row[4:])
        finally:
            reader.close()

    def add_checkpoint(self, size: int, note: str, key_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO checkpoints (size, note, key_id) VALUES (?, ?, ?)", (size, note, key_id))

    def checkpoints(self) -> list[tuple[int, str, str]]:
        with self._lock:
            return list(self._db.execute("SELECT size, note, key_id FROM checkpoints ORDER BY id"))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _blob(value: bytes | str | None) -> bytes:
    """A BLOB column's bytes; an edit through SQL can leave TEXT there, which must still verify (and fail)."""
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)
