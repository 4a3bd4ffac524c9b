"""The embedded ledger store: a journal file for durability, a SQLite file (WAL) as the index.

The process that owns the ledger (`writer=True`: the gateway, `rollgate ledger rotate-key`) holds
the journal's lock. An append is durable once the journal's fdatasync returns; the rows are then
inserted into SQLite, with synchronous=NORMAL, by `settle`, which the ledger calls after it has
woken the callers, and which every read here runs first, so readers in this process always see
every durable entry. Other processes open the file read-only (`writer=False`): they read what the
index holds, and may add signed checkpoints, which are not part of the chain.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from gateway.errors import LedgerTamperedError, StoreError
from gateway.store.base import COLUMNS, FILTERS, JournalContents, LedgerRow
from gateway.store.connection import open_durable
from gateway.store.journal import JOURNAL_LIMIT, Journal, read_journal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY, body BLOB NOT NULL, entry_hash TEXT NOT NULL, leaf BLOB NOT NULL,
    kind TEXT NOT NULL, workflow TEXT, principal TEXT, tool TEXT, correlation TEXT, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_workflow ON ledger (workflow, seq);
CREATE INDEX IF NOT EXISTS ledger_correlation ON ledger (correlation);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, size INTEGER NOT NULL, note TEXT NOT NULL, key_id TEXT NOT NULL);
"""


class SqliteLedgerStore:
    def __init__(self, path: Path, *, writer: bool = True, journal_limit: int = JOURNAL_LIMIT) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._unindexed: list[LedgerRow] = []
        self._journal: Journal | None = None
        self.journal_path = path.with_name(path.name + ".journal")
        if writer:
            self._journal = Journal(self.journal_path, limit=journal_limit)
        try:
            self._db = open_durable(path, _SCHEMA)
            if self._journal is not None:
                self._db.execute("PRAGMA synchronous=NORMAL")  # the journal is what is fsynced
                tail = self._db.execute("SELECT max(seq) FROM ledger").fetchone()[0] or 0
                newer = self._journal.recover(tail)
                self._check_against_journal(tail)
                self._insert(newer)
                self._sync_index()
                self._journal.resume(tail + len(newer))
        except BaseException:
            if self._journal is not None:
                self._journal.close()
            raise

    def _check_against_journal(self, tail: int) -> None:
        """The journal's records the database already holds must be the same entries: one that
        differs was rewritten there (the journal is the authoritative copy), and the gateway
        refuses to append to, or sign over, such a ledger."""
        assert self._journal is not None
        held = [row for row in self._journal.contents().rows if row.seq <= tail]
        if not held:
            return
        stored = {
            row[0]: LedgerRow(row[0], _blob(row[1]), row[2], _blob(row[3]), *row[4:])
            for row in self._db.execute(f"SELECT {COLUMNS} FROM ledger WHERE seq >= ?", (held[0].seq,))
        }
        for copy in held:
            if stored.get(copy.seq) != copy:
                what = "is missing from" if copy.seq not in stored else "differs in"
                raise LedgerTamperedError(
                    f"ledger entry {copy.seq} {what} the database {self.path} but is in its journal "
                    f"{self.journal_path} (the authoritative copy): the database was rewritten or replaced"
                )

    def journal(self) -> JournalContents | None:
        """What the journal holds now (None: there is no journal file)."""
        if self._journal is not None:
            with self._lock:
                return self._journal.contents()
        return read_journal(self.journal_path)

    def append(self, rows: Sequence[LedgerRow]) -> None:
        if self._journal is None:
            raise StoreError(f"{self.path} is open read-only: only the process that owns the ledger appends")
        with self._lock:
            self._journal.append(rows)
            self._unindexed.extend(rows)

    def settle(self) -> None:
        with self._lock:
            self._settle()

    def _settle(self) -> None:
        rows, self._unindexed = self._unindexed, []
        try:
            self._insert(rows)
        except BaseException:
            self._unindexed[:0] = rows  # durable in the journal: indexed by the next settle or start
            raise
        if self._journal is not None and self._journal.full:
            self._sync_index()
            self._journal.restart()

    def _sync_index(self) -> None:
        """Make every committed row durable in SQLite's own files, so the journal may start again.

        One commit with synchronous=FULL fsyncs the WAL, and with it every frame committed before
        under NORMAL (a checkpoint in between has synced the database file itself). Never open the
        database files directly here: closing such a descriptor drops SQLite's POSIX locks.
        """
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute(
                "INSERT INTO journal (id, generation) VALUES (1, 1) "
                "ON CONFLICT (id) DO UPDATE SET generation = generation + 1"
            )
        finally:
            self._db.execute("PRAGMA synchronous=NORMAL")

    def _insert(self, rows: Sequence[LedgerRow]) -> None:
        if not rows:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                f"INSERT INTO ledger ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [r.values() for r in rows],
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def tail(self) -> LedgerRow | None:
        with self._lock:
            self._settle()
            row = self._db.execute(f"SELECT {COLUMNS} FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        return LedgerRow(*row) if row else None

    def leaves(self) -> list[bytes]:
        with self._lock:
            self._settle()
            return [_blob(leaf) for (leaf,) in self._db.execute("SELECT leaf FROM ledger ORDER BY seq")]

    def rows(self, *, start: int = 1, **filters: str | None) -> Iterator[LedgerRow]:
        clauses, params = ["seq >= ?"], [start]
        for key, value in filters.items():
            if value is not None and key in FILTERS:
                clauses.append(f"{key} = ?")
                params.append(value)  # type: ignore[arg-type]
        query = f"SELECT {COLUMNS} FROM ledger WHERE {' AND '.join(clauses)} ORDER BY seq"
        self.settle()
        reader = sqlite3.connect(self.path, timeout=30)
        try:
            for row in reader.execute(query, params):
                yield LedgerRow(row[0], _blob(row[1]), row[2], _blob(row[3]), *row[4:])
        finally:
            reader.close()

    def add_checkpoint(self, size: int, note: str, key_id: str) -> None:
        with self._lock:
            if self._journal is not None:  # first: a rewrite of the database does not erase it
                self._journal.add_checkpoint(size, note)
            self._db.execute("INSERT INTO checkpoints (size, note, key_id) VALUES (?, ?, ?)", (size, note, key_id))

    def newest_journal_checkpoint(self) -> str | None:
        """The newest checkpoint this owner's journal holds (what start-up proves the ledger extends)."""
        checkpoint = self._journal.newest_checkpoint if self._journal is not None else None
        return checkpoint.note if checkpoint is not None else None

    def checkpoints(self) -> list[tuple[int, str, str]]:
        with self._lock:
            return list(self._db.execute("SELECT size, note, key_id FROM checkpoints ORDER BY id"))

    def close(self) -> None:
        with self._lock:
            self._settle()
            if self._journal is not None:
                self._sync_index()
                self._journal.close()
            self._db.close()


def _blob(value: bytes | str | None) -> bytes:
    """A BLOB column's bytes; an edit through SQL can leave TEXT there, which must still verify (and fail)."""
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)
