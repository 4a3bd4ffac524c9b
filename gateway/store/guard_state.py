"""Where the guards keep what must survive a restart: the kill switch and the pinned tool definitions.

One small table of documents, `guard_state (kind, key, document)`: a guard names its `kind`
(`stop`, `pin`), keys its records as it likes, and stores each as a JSON document it reads back
into its own model. The embedded store is SQLite (`<state_dir>/guards.db`); when the ledger is on
PostgreSQL (`[ledger] url`), so is this table, in the same database, so that a deployment whose
state directory is thrown away with its container still remembers a stop and its pins.

Writes are synchronous and rare (an operator's stop or acceptance, a tool definition seen for the
first time or changed); reads happen once, when the gateway starts: the guards keep their state in
memory and this store is only its durable copy.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from gateway.errors import StoreError
from gateway.store.connection import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS guard_state (
    kind TEXT NOT NULL, key TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (kind, key));
"""
"""The same in both dialects."""
GUARDS_DATABASE = "guards.db"


class GuardStateStore(Protocol):
    def load(self, kind: str) -> dict[str, str]:
        """Every record of `kind`: key → its JSON document."""

    def save(self, kind: str, key: str, document: str) -> None:
        """Insert or replace one record, durably, before returning."""

    def drop(self, kind: str, key: str) -> None:
        """Remove one record (nothing happens if there is none)."""

    def close(self) -> None: ...


class _DocumentTable:
    """The store over one DB-API connection (sqlite3 or psycopg, in autocommit): the statements
    are the same in both dialects but for the parameter mark."""

    def __init__(self, db: Any, mark: str) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._load = "SELECT key, document FROM guard_state WHERE kind = ?".replace("?", mark)
        self._save = (
            "INSERT INTO guard_state (kind, key, document) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET document = excluded.document"
        ).replace("?", mark)
        self._drop = "DELETE FROM guard_state WHERE kind = ? AND key = ?".replace("?", mark)

    def load(self, kind: str) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute(self._load, (kind,)).fetchall()
        return {key: document for key, document in rows}

    def save(self, kind: str, key: str, document: str) -> None:
        with self._lock:
            self._db.execute(self._save, (kind, key, document))

    def drop(self, kind: str, key: str) -> None:
        with self._lock:
            self._db.execute(self._drop, (kind, key))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SqliteGuardStateStore(_DocumentTable):
    def __init__(self, path: Path) -> None:
        super().__init__(open_durable(path, _SCHEMA), "?")


class PostgresGuardStateStore(_DocumentTable):
    """The same table in PostgreSQL (psycopg 3, autocommit: each write is its own transaction)."""

    def __init__(self, url: str) -> None:
        import psycopg  # only when configured

        try:
            db = psycopg.connect(url, autocommit=True, connect_timeout=10)
            db.execute(_SCHEMA)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the guard state in PostgreSQL: {str(exc).strip()}") from None
        super().__init__(db, "%s")


def open_guard_state(state_dir: Path, url: str | None) -> GuardStateStore:
    """PostgreSQL when `url` (the ledger's) is set, else `<state_dir>/guards.db`."""
    if url is not None:
        return PostgresGuardStateStore(url)
    return SqliteGuardStateStore(state_dir / GUARDS_DATABASE)
