"""The newest checkpoint's copies and the start-up proof (`gateway/ledger/anchor.py`): the ledger
being opened must extend the newest checkpoint of the database, the journal and the operator's
copy, or the gateway refuses to start (`LedgerTamperedError`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import LedgerTamperedError, StoreError
from gateway.ledger.anchor import keep_copy, newest_heads, prove_extends, read_copy
from gateway.ledger.verify import SignedHead, known_key
from gateway.store import SqliteLedgerStore
from tests.unit.ledger.entries import chain, signed

KEY = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
KEYS = known_key(KEY.public_key())
KEY_ID = next(iter(KEYS))


@pytest.fixture
def store(tmp_path: Path) -> SqliteLedgerStore:
    """Eight entries, checkpoints at sizes 4 and 8 (each kept in the database and the journal)."""
    store = SqliteLedgerStore(tmp_path / "ledger.db")
    rows = chain(8)
    store.append(rows)
    store.settle()
    for size in (4, 8):
        store.add_checkpoint(size, signed(rows, KEY, size), KEY_ID)
    return store


def test_a_copy_is_written_whole_private_and_with_no_temporary_file_left(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "checkpoint"
    keep_copy(copy, "first\n")
    keep_copy(copy, "second\n")
    assert read_copy(copy) == "second\n"
    assert copy.stat().st_mode & 0o777 == 0o600 and copy.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in copy.parent.iterdir()] == ["checkpoint"]


def test_a_missing_copy_reads_as_none_and_an_unreadable_one_is_a_store_error(tmp_path: Path) -> None:
    assert read_copy(tmp_path / "absent") is None
    with pytest.raises(StoreError, match=f"the checkpoint copy {tmp_path} cannot be read"):
        read_copy(tmp_path)  # a directory


def test_a_copy_that_cannot_be_written_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot be written"):
        keep_copy(tmp_path / "file" / "checkpoint", "note\n")


def test_the_newest_head_of_each_place_is_the_one_of_largest_size(store: SqliteLedgerStore, tmp_path: Path) -> None:
    rows = chain(8)
    keep_copy(tmp_path / "copy", signed(rows, KEY, 4))
    heads = newest_heads(store, tmp_path / "copy")
    assert heads == [
        SignedHead(signed(rows, KEY, 8), "the database"),
        SignedHead(signed(rows, KEY, 8), "the journal"),
        SignedHead(signed(rows, KEY, 4), f"the checkpoint copy {tmp_path / 'copy'}"),
    ]


def test_a_fresh_ledger_has_no_heads_and_needs_no_copy(tmp_path: Path) -> None:
    fresh = SqliteLedgerStore(tmp_path / "fresh.db")
    assert newest_heads(fresh, tmp_path / "copy") == []
    prove_extends(fresh, KEYS, tmp_path / "copy")


def test_a_deleted_copy_of_a_signed_ledger_refuses_the_start(store: SqliteLedgerStore, tmp_path: Path) -> None:
    with pytest.raises(LedgerTamperedError, match=f"the checkpoint copy {tmp_path / 'copy'} .* is missing"):
        newest_heads(store, tmp_path / "copy")


def test_an_untouched_ledger_extends_all_its_heads(store: SqliteLedgerStore, tmp_path: Path) -> None:
    keep_copy(tmp_path / "copy", signed(chain(8), KEY))
    prove_extends(store, KEYS, tmp_path / "copy")
    prove_extends(store, KEYS, None)


def test_a_copy_signed_over_other_entries_refuses_the_start(store: SqliteLedgerStore, tmp_path: Path) -> None:
    other = chain(8, prev="1" * 64)
    keep_copy(tmp_path / "copy", signed(other, KEY))
    with pytest.raises(LedgerTamperedError, match="not an append-only extension .* in the checkpoint copy"):
        prove_extends(store, KEYS, tmp_path / "copy")


def test_checkpoints_deleted_from_the_database_are_still_held_by_the_owners_journal(
    store: SqliteLedgerStore, tmp_path: Path
) -> None:
    store.close()
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.execute("DELETE FROM checkpoints")
    reader = SqliteLedgerStore(tmp_path / "ledger.db", writer=False)
    assert newest_heads(reader, None) == []  # a reader has no journal of its own to trust
    reopened = SqliteLedgerStore(tmp_path / "ledger.db")
    assert [h.where for h in newest_heads(reopened, None)] == ["the journal"]
    prove_extends(reopened, KEYS, None)
