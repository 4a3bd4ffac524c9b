"""State stores. SQLite (a journal + WAL index) is the embedded default; PostgreSQL scales out."""

from __future__ import annotations

from pathlib import Path

from gateway.errors import StoreError
from gateway.store.base import LedgerRow, LedgerStore
from gateway.store.sqlite import SqliteLedgerStore

__all__ = ["LedgerRow", "LedgerStore", "SqliteLedgerStore", "open_ledger_store"]


def open_ledger_store(database: Path, url: str | None, *, writer: bool) -> LedgerStore:
    """The configured ledger store: PostgreSQL when `url` is set, else the SQLite file `database`.
    A reader of a SQLite ledger that does not exist yet is an error, not a new empty ledger."""
    if url is not None:
        from gateway.store.postgres import PostgresLedgerStore  # psycopg only when configured

        return PostgresLedgerStore(url, writer=writer)
    if not writer and not database.exists():
        raise StoreError(f"no ledger at {database}")
    return SqliteLedgerStore(database, writer=writer)
