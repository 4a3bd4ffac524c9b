"""Tampering with the real database file is detected, and the first bad entry is named."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import VerificationError
from gateway.ledger.entry import seal
from gateway.ledger.keys import KEY_NAME, known_public_keys, load_or_create
from gateway.ledger.ledger import Ledger
from gateway.ledger.merkle import root
from gateway.ledger.note import Checkpoint
from gateway.ledger.verify import verify_extension, verify_ledger, verify_rows
from gateway.store import SqliteLedgerStore
from tests.unit.ledger.entries import intent


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(SqliteLedgerStore(tmp_path / "ledger.db"), key, "test/ledger")
    for n in range(1, 11):
        ledger.append_blocking(intent(n, tool="demo/transfer", arguments={"amount_cents": n * 100}))
        if n == 5:
            ledger.checkpoint()
    ledger.close()  # signs the final head (size 10)
    return tmp_path


def check(directory: Path) -> None:
    store = SqliteLedgerStore(directory / "ledger.db", writer=False)
    verify_ledger(list(store.rows()), [note for _, note, _ in store.checkpoints()], known_public_keys(directory))


def sql(directory: Path, statement: str, *params: object) -> None:
    with sqlite3.connect(directory / "ledger.db") as db:
        db.execute(statement, params)


def test_an_untouched_ledger_verifies(ledger_dir: Path) -> None:
    check(ledger_dir)


def test_an_edited_field_is_detected_at_its_entry(ledger_dir: Path) -> None:
    sql(ledger_dir, "UPDATE ledger SET body = replace(body, '700', '701') WHERE seq = 7")
    with pytest.raises(VerificationError, match="entry 7: its content does not match its hash") as failed:
        check(ledger_dir)
    assert failed.value.seq == 7


def test_an_edit_with_a_recomputed_hash_breaks_the_chain_at_the_next_entry(ledger_dir: Path) -> None:
    with sqlite3.connect(ledger_dir / "ledger.db") as db:
        body = bytes(db.execute("SELECT body FROM ledger WHERE seq = 4").fetchone()[0])
        document = json.loads(body)
        forged = seal(4, document["prev"], document["time"], document["kind"], {**document["data"], "tool": "x/y"})
        db.execute(
            "UPDATE ledger SET body = ?, entry_hash = ?, leaf = ?, tool = 'x/y' WHERE seq = 4",
            (forged.body, forged.entry_hash, forged.leaf),
        )
    with pytest.raises(VerificationError, match="entry 5: it does not follow entry 4") as failed:
        check(ledger_dir)
    assert failed.value.seq == 5


def test_an_edited_index_column_is_detected(ledger_dir: Path) -> None:
    sql(ledger_dir, "UPDATE ledger SET workflow = 'other' WHERE seq = 3")
    with pytest.raises(VerificationError, match="entry 3: its index columns disagree"):
        check(ledger_dir)


def test_a_deleted_entry_is_named(ledger_dir: Path) -> None:
    sql(ledger_dir, "DELETE FROM ledger WHERE seq = 6")
    with pytest.raises(VerificationError, match="entry 6 is missing") as failed:
        check(ledger_dir)
    assert failed.value.seq == 6


def test_two_reordered_entries_are_detected(ledger_dir: Path) -> None:
    with sqlite3.connect(ledger_dir / "ledger.db") as db:
        db.execute("UPDATE ledger SET seq = -1 WHERE seq = 3")
        db.execute("UPDATE ledger SET seq = 3 WHERE seq = 4")
        db.execute("UPDATE ledger SET seq = 4 WHERE seq = -1")
    with pytest.raises(VerificationError, match="entry 3: it claims to be entry 4") as failed:
        check(ledger_dir)
    assert failed.value.seq == 3


def test_a_cut_tail_is_detected_by_the_signed_checkpoint(ledger_dir: Path) -> None:
    sql(ledger_dir, "DELETE FROM ledger WHERE seq > 8")
    with pytest.raises(VerificationError, match=r"ends at entry 8: entries 9\.\.10 are missing") as failed:
        check(ledger_dir)
    assert failed.value.seq == 9


def test_a_checkpoint_signed_with_another_key_is_rejected(ledger_dir: Path) -> None:
    store = SqliteLedgerStore(ledger_dir / "ledger.db", writer=False)
    leaves = [row.leaf for row in store.rows()]
    forged = Checkpoint("test/ledger", 10, root(leaves), 0).sign(KEY_NAME, Ed25519PrivateKey.generate())
    store.add_checkpoint(10, forged, "forged")
    store.close()
    with pytest.raises(VerificationError, match="unknown key"):
        check(ledger_dir)


def test_a_checkpoint_whose_signature_was_altered_is_rejected(ledger_dir: Path) -> None:
    with sqlite3.connect(ledger_dir / "ledger.db") as db:
        note = db.execute("SELECT note FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()[0]
        head, _, signature = note.rpartition(" ")
        damaged = head + " " + ("A" if signature[0] != "A" else "B") + signature[1:]
        db.execute("UPDATE checkpoints SET note = ? WHERE note = ?", (damaged, note))
    with pytest.raises(VerificationError, match="checkpoint"):
        check(ledger_dir)


def test_the_ledger_is_proved_an_extension_of_an_earlier_checkpoint(ledger_dir: Path) -> None:
    store = SqliteLedgerStore(ledger_dir / "ledger.db", writer=False)
    earlier = store.checkpoints()[0][1]  # size 5
    keys = known_public_keys(ledger_dir)
    verify_extension(verify_rows(list(store.rows())), earlier, keys)
    rewritten = Checkpoint("test/ledger", 5, b"\x01" * 32, 0).sign(KEY_NAME, load_or_create(ledger_dir)[0].private)
    with pytest.raises(VerificationError, match="not an extension"):
        verify_extension(verify_rows(list(store.rows())), rewritten, keys)
