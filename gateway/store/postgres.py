"""The scale-out ledger store: PostgreSQL through psycopg 3.

Same table layout as the SQLite store. An append is one transaction, durable when it commits
(`synchronous_commit` must stay on, which is PostgreSQL's default; the store refuses to open
otherwise). The hash chain has one writer: the process that owns the ledger holds a session-level
advisory lock for as long as it is open, so a second gateway on the same database is refused
instead of forking the chain. Readers (`rollgate ledger verify|show|export`) need no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from gateway.errors import LedgerBusyError, StoreError
from gateway.store.base import COLUMNS, FILTERS, LedgerRow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq BIGINT PRIMARY KEY, body BYTEA NOT NULL, entry_hash TEXT NOT NULL, leaf BYTEA NOT NULL,
    kind TEXT NOT NULL, workflow TEXT, principal TEXT, tool TEXT, correlation TEXT, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_workflow ON ledger (workflow, seq);
CREATE INDEX IF NOT EXISTS ledger_correlation ON ledger (correlation);
CREATE TABLE IF NOT EXISTS checkpoints (
    id BIGSERIAL PRIMARY KEY, size BIGINT NOT NULL, note TEXT NOT NULL, key_id TEXT NOT NULL);
"""
WRITER_LOCK = 0x726F6C6C67617465
"""The advisory lock key of the ledger's single writer ("rollgate" in ASCII)."""


class PostgresLedgerStore:
    def __init__(self, url: str, *, writer: bool = True) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._db = _connect(url)
        try:
            self._db.execute(_SCHEMA)
            if (setting := self._db.execute("SHOW synchronous_commit").fetchone()) and setting[0] == "off":
                raise StoreError(f"{_where(url)}: synchronous_commit is off, so a commit is not durable")
            if writer:
                (locked,) = self._db.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK,)).fetchone() or (False,)
                if not locked:
                    raise LedgerBusyError(
                        f"another process (a running gateway?) is writing to the ledger at {_where(url)}; "
                        "stop it first, or read the ledger with 'rollgate ledger show|verify|export'"
                    )
            self._writer = writer
        except BaseException:
            self._db.close()
            raise

    def append(self, rows: Sequence[LedgerRow]) -> None:
        if not self._writer:
            raise StoreError(f"{_where(self.url)} is open read-only: only the process that owns the ledger appends")
        with self._lock, self._db.transaction(), self._db.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO ledger ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [r.values() for r in rows],
            )

    def settle(self) -> None:
        """Nothing is deferred: a commit is durable and indexed at once."""

    def tail(self) -> LedgerRow | None:
        with self._lock:
            row = self._db.execute(f"SELECT {COLUMNS} FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        return _row(row) if row else None

    def leaves(self) -> list[bytes]:
        with self._lock:
            return [bytes(leaf) for (leaf,) in self._db.execute("SELECT leaf FROM ledger ORDER BY seq")]

    def rows(self, *, start: int = 1, **filters: str | None) -> Iterator[LedgerRow]:
        clauses, params = ["seq >= %s"], [start]
        for key, value in filters.items():
            if value is not None and key in FILTERS:
                clauses.append(f"{key} = %s")
                params.append(value)  # type: ignore[arg-type]
        query = f"SELECT {COLUMNS} FROM ledger WHERE {' AND '.join(clauses)} ORDER BY seq"
        with _connect(self.url) as reader, reader.transaction(), reader.cursor(name="ledger_rows") as cursor:
            cursor.itersize = 2000
            cursor.execute(query, params)
            for row in cursor:
                yield _row(row)

    def add_checkpoint(self, size: int, note: str, key_id: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO checkpoints (size, note, key_id) VALUES (%s, %s, %s)", (size, note, key_id))

    def checkpoints(self) -> list[tuple[int, str, str]]:
        with self._lock:
            return [
                (int(s), n, k) for s, n, k in self._db.execute("SELECT size, note, key_id FROM checkpoints ORDER BY id")
            ]

    def journal(self) -> None:
        """PostgreSQL's own WAL is its durable copy: there is no journal to compare."""
        return None

    def newest_journal_checkpoint(self) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            self._db.close()  # ends the session, which releases the writer's advisory lock


def _connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open the ledger at {_where(url)}: {str(exc).strip()}") from None


def _where(url: str) -> str:
    """The URL without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return (
        f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
    )


def _row(row: tuple[Any, ...]) -> LedgerRow:
    return LedgerRow(int(row[0]), bytes(row[1]), row[2], bytes(row[3]), *row[4:])
