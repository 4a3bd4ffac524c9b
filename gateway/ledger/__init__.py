"""The signed, hash-chained ledger: entries, Merkle tree, checkpoints, keys, verification."""

from __future__ import annotations

from pathlib import Path

from gateway.config import Config
from gateway.errors import LedgerClosed, VerificationError
from gateway.ledger.anchor import prove_extends
from gateway.ledger.entry import EntryKind, StoredEntry
from gateway.ledger.events import LedgerEvent, Record
from gateway.ledger.keys import SigningKey, known_public_keys, load_or_create
from gateway.ledger.ledger import Cosigners, Ledger
from gateway.ledger.privacy import Masker
from gateway.ledger.recovery import mark_unknown_outcomes
from gateway.ledger.verify import Report, verify_ledger
from gateway.store import LedgerStore, open_ledger_store

__all__ = [
    "EntryKind",
    "Ledger",
    "LedgerClosed",
    "LedgerEvent",
    "Masker",
    "Record",
    "Report",
    "SigningKey",
    "StoredEntry",
    "VerificationError",
    "checkpoint_copy",
    "database_path",
    "ledger_store",
    "mark_unknown_outcomes",
    "open_ledger",
    "verify_ledger",
]


def database_path(config: Config) -> Path:
    database = config.ledger.database
    return database if database.is_absolute() else config.state_dir / database


def checkpoint_copy(config: Config) -> Path | None:
    copy = config.ledger.checkpoint_copy
    return copy if copy is None or copy.is_absolute() else config.state_dir / copy


def ledger_store(config: Config, *, writer: bool) -> LedgerStore:
    """This deployment's ledger store; `writer` takes the single-writer lock."""
    return open_ledger_store(database_path(config), config.ledger.url, writer=writer)


def open_ledger(config: Config, cosigners: Cosigners | None = None) -> tuple[Ledger, bool]:
    """The ledger of this deployment; (ledger, key_created). Refused (`LedgerTamperedError`), with
    nothing appended, unless the stored ledger extends the newest checkpoint signed for it.
    `cosigners` are offered each new checkpoint (the witnesses; the composition root makes them)."""
    store = ledger_store(config, writer=True)
    copy = checkpoint_copy(config)
    try:
        key, created = load_or_create(config.state_dir)
        prove_extends(store, known_public_keys(config.state_dir), copy)
    except BaseException:
        store.close()
        raise
    return Ledger(store, key, config.ledger.origin, checkpoint_copy=copy, cosigners=cosigners), created
