"""The signed, hash-chained ledger: entries, Merkle tree, checkpoints, keys, verification."""

from __future__ import annotations

from pathlib import Path

from gateway.config import Config
from gateway.ledger.entry import EntryKind, StoredEntry
from gateway.ledger.keys import SigningKey, load_or_create
from gateway.ledger.ledger import Ledger, LedgerClosed
from gateway.ledger.privacy import Masker
from gateway.ledger.recovery import mark_unknown_outcomes
from gateway.ledger.verify import Report, VerificationError, verify_ledger
from gateway.store import SqliteLedgerStore

__all__ = [
    "EntryKind",
    "Ledger",
    "LedgerClosed",
    "Masker",
    "Report",
    "SigningKey",
    "StoredEntry",
    "VerificationError",
    "database_path",
    "mark_unknown_outcomes",
    "open_ledger",
    "verify_ledger",
]


def database_path(config: Config) -> Path:
    database = config.ledger.database
    return database if database.is_absolute() else config.state_dir / database


def open_ledger(config: Config) -> tuple[Ledger, bool]:
    """The ledger of this deployment; (ledger, key_created)."""
    key, created = load_or_create(config.state_dir)
    return Ledger(SqliteLedgerStore(database_path(config)), key, config.ledger.origin), created
