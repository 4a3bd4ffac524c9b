"""The demo bank's SQLite file: schema, connections and transactions.

The gateway may start several copies of the demo server on one file (one upstream session per
client session), so nothing is cached in memory: every tool call opens its own connection, and
every mutation runs in a `BEGIN IMMEDIATE` transaction, which takes the write lock before the
first read. Two processes therefore cannot both read a balance and then both debit it; the second
waits (busy timeout) and reads the first one's result. WAL mode lets reads go on meanwhile.

Money is integer cents. Times are seconds since the epoch (`REAL`).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BUSY_TIMEOUT_MS", "Database", "new_id"]

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's transaction before SQLite gives up."""

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS customers (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS accounts (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), currency TEXT NOT NULL,
        balance_cents INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('open', 'closed')))""",
    """CREATE TABLE IF NOT EXISTS transfers (
        id TEXT PRIMARY KEY, from_account TEXT NOT NULL, to_account TEXT NOT NULL,
        amount_cents INTEGER NOT NULL CHECK (amount_cents > 0), memo TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('completed', 'refunded')), created_at REAL NOT NULL,
        refunded_by TEXT, refunded_at REAL)""",
    """CREATE TABLE IF NOT EXISTS records (
        key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS outbox (
        id TEXT PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,
        sent_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS accounts_by_customer ON accounts (customer_id)",
)
# `to` is an SQL keyword, hence `recipient`, `from_account` and `to_account` as column names.

ADDED_COLUMNS = {("transfers", "refunded_by"): "TEXT", ("transfers", "refunded_at"): "REAL"}
"""Columns later than the first schema, added in place so a demo database from before keeps working."""


def new_id(prefix: str) -> str:
    """A short readable id such as `cus_3f9a1c7e2b`: a type prefix and 40 random bits."""
    return f"{prefix}_{secrets.token_hex(5)}"


class Database:
    """One SQLite file; hands out short-lived connections, one per tool call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
        with self.write() as db:
            for statement in SCHEMA:
                db.execute(statement)
            _add_missing_columns(db)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A transaction holding the write lock from its first statement; committed unless it raises."""
        with self._connection() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one snapshot."""
        with self._connection() as db:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                db.execute("ROLLBACK")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None: the sqlite3 module opens no transactions of its own; we say BEGIN.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            yield db
        finally:
            db.close()


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for (table, column), kind in ADDED_COLUMNS.items():
        present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
