"""State stores. SQLite (WAL) is the embedded default; the protocol leaves room for PostgreSQL."""

from gateway.store.base import LedgerRow, LedgerStore
from gateway.store.sqlite import SqliteLedgerStore

__all__ = ["LedgerRow", "LedgerStore", "SqliteLedgerStore"]
