"""The PostgreSQL ledger store against the real local server: the store protocol, tamper
detection done with SQL, and the single-writer lock."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import LedgerBusyError, StoreError, VerificationError
from gateway.ledger.keys import KEY_NAME, known_public_keys, load_or_create
from gateway.ledger.ledger import Ledger
from gateway.ledger.merkle import root
from gateway.ledger.note import Checkpoint
from gateway.ledger.verify import verify_ledger
from gateway.store.postgres import PostgresLedgerStore
from tests.unit.ledger.entries import intent, result


@pytest.fixture
def filled(postgres_url: str, tmp_path: Path) -> str:
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(PostgresLedgerStore(postgres_url), key, "test/ledger")
    for n in range(1, 11):
        ledger.append_blocking(intent(n, workflow="wf" if n % 2 else "other", tool="t"))
        if n == 5:
            ledger.checkpoint()
    ledger.close()  # signs the final head (size 10)
    return postgres_url


def check(url: str, keys_dir: Path) -> int:
    store = PostgresLedgerStore(url, writer=False)
    try:
        notes = [note for _, note, _ in store.checkpoints()]
        return verify_ledger(list(store.rows()), notes, known_public_keys(keys_dir)).entries
    finally:
        store.close()


def sql(url: str, statement: str, *params: object) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(statement, params)  # type: ignore[arg-type]


def test_the_store_keeps_rows_in_order_with_their_columns_and_checkpoints(filled: str, tmp_path: Path) -> None:
    store = PostgresLedgerStore(filled, writer=False)
    try:
        tail = store.tail()
        assert tail is not None and tail.seq == 10 and tail.kind == "call.intent"
        assert len(store.leaves()) == 10 and all(len(leaf) == 32 for leaf in store.leaves())
        assert [row.seq for row in store.rows(workflow="wf")] == [1, 3, 5, 7, 9]
        assert [row.seq for row in store.rows(start=8)] == [8, 9, 10]
        assert [row.correlation for row in store.rows(correlation="c4")] == ["c4"]
        assert [size for size, _, _ in store.checkpoints()] == [5, 10]
    finally:
        store.close()
    assert check(filled, tmp_path) == 10


def test_a_reopened_ledger_continues_its_chain(filled: str, tmp_path: Path) -> None:
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(PostgresLedgerStore(filled), key, "test/ledger")
    ledger.append_blocking(result(10))
    ledger.close()
    assert check(filled, tmp_path) == 11


def test_an_edited_field_is_detected_at_its_entry(filled: str, tmp_path: Path) -> None:
    edited = "convert_to(replace(convert_from(body, 'UTF8'), '\"c7\"', '\"c8\"'), 'UTF8')"
    sql(filled, f"UPDATE ledger SET body = {edited} WHERE seq = 7")
    with pytest.raises(VerificationError, match="entry 7: its content does not match its hash") as failed:
        check(filled, tmp_path)
    assert failed.value.seq == 7


def test_a_deleted_entry_is_detected(filled: str, tmp_path: Path) -> None:
    sql(filled, "DELETE FROM ledger WHERE seq = 4")
    with pytest.raises(VerificationError) as failed:
        check(filled, tmp_path)
    assert failed.value.seq in (4, 5)


def test_two_reordered_entries_are_detected(filled: str, tmp_path: Path) -> None:
    sql(filled, "UPDATE ledger SET seq = -seq WHERE seq IN (3, 4)")
    sql(filled, "UPDATE ledger SET seq = CASE seq WHEN -3 THEN 4 ELSE 3 END WHERE seq IN (-3, -4)")
    with pytest.raises(VerificationError, match="entry 3") as failed:
        check(filled, tmp_path)
    assert failed.value.seq == 3


def test_a_cut_tail_is_detected_by_the_signed_checkpoint(filled: str, tmp_path: Path) -> None:
    sql(filled, "DELETE FROM ledger WHERE seq > 8")
    with pytest.raises(VerificationError, match=r"ends at entry 8: entries 9\.\.10 are missing") as failed:
        check(filled, tmp_path)
    assert failed.value.seq == 9


def test_a_checkpoint_signed_with_another_key_is_rejected(filled: str, tmp_path: Path) -> None:
    store = PostgresLedgerStore(filled, writer=False)
    leaves = store.leaves()
    store.add_checkpoint(
        10, Checkpoint("test/ledger", 10, root(leaves), 0).sign(KEY_NAME, Ed25519PrivateKey.generate()), "x"
    )
    store.close()
    with pytest.raises(VerificationError, match="unknown key"):
        check(filled, tmp_path)


def test_only_one_process_may_write_and_readers_need_no_lock(filled: str) -> None:
    owner = PostgresLedgerStore(filled)
    try:
        with pytest.raises(LedgerBusyError, match="another process"):
            PostgresLedgerStore(filled)
        reader = PostgresLedgerStore(filled, writer=False)
        assert reader.tail() is not None
        with pytest.raises(StoreError, match="read-only"):
            reader.append([])
        reader.close()
    finally:
        owner.close()
    PostgresLedgerStore(filled).close()  # the lock went with the owner's session


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError, match=r"cannot open the ledger at postgresql://rollgate@127\.0\.0\.1:1/x") as failed:
        PostgresLedgerStore("postgresql://rollgate:secret@127.0.0.1:1/x")
    assert "secret" not in str(failed.value)
