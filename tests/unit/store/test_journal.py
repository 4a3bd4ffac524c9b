"""The ledger journal: durability before the SQLite index, recovery, and single ownership.

"Power loss" is simulated by deleting rows from the SQLite index (what synchronous=NORMAL may
lose) while the journal, which was fsynced, keeps them.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from gateway.errors import LedgerBusyError, LedgerTamperedError, StoreError
from gateway.ledger.keys import known_public_keys, load_or_create
from gateway.ledger.ledger import Ledger
from gateway.ledger.verify import verify_ledger
from gateway.store import SqliteLedgerStore
from tests.unit.ledger.entries import intent


def fill(directory: Path, count: int, **store_options: int) -> None:
    key, _ = load_or_create(directory)
    ledger = Ledger(SqliteLedgerStore(directory / "ledger.db", **store_options), key, "t")
    for n in range(count):
        ledger.append_blocking(intent(n))
    ledger.close()


def lose_index_rows_after(directory: Path, seq: int) -> None:
    with sqlite3.connect(directory / "ledger.db") as db:
        db.execute("DELETE FROM ledger WHERE seq > ?", (seq,))


def stored_seqs(directory: Path) -> list[int]:
    store = SqliteLedgerStore(directory / "ledger.db", writer=False)
    try:
        return [row.seq for row in store.rows()]
    finally:
        store.close()


def verifies(directory: Path) -> int:
    store = SqliteLedgerStore(directory / "ledger.db", writer=False)
    try:
        notes = [note for _, note, _ in store.checkpoints()]
        return verify_ledger(list(store.rows()), notes, known_public_keys(directory)).entries
    finally:
        store.close()


def test_entries_the_index_lost_are_put_back_from_the_journal_when_the_owner_opens_it(tmp_path: Path) -> None:
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(SqliteLedgerStore(tmp_path / "ledger.db"), key, "t")
    for n in range(12):
        ledger.append_blocking(intent(n))
    ledger.checkpoint()
    ledger.store.settle()
    lose_index_rows_after(tmp_path, 7)  # the index lost 8..12; the journal has them
    assert stored_seqs(tmp_path) == list(range(1, 8))
    ledger.store.close()  # a crash: no orderly close of the ledger

    reopened = Ledger(SqliteLedgerStore(tmp_path / "ledger.db"), key, "t")
    reopened.append_blocking(intent(12))  # the chain continues from the recovered tail
    reopened.close()
    assert stored_seqs(tmp_path) == list(range(1, 14))
    assert verifies(tmp_path) == 13


def test_a_torn_frame_at_the_end_of_the_journal_is_ignored(tmp_path: Path) -> None:
    fill(tmp_path, 5)
    journal = tmp_path / "ledger.db.journal"
    with journal.open("r+b") as handle:  # a frame whose write was cut short: length says more than is there
        handle.seek(0, os.SEEK_END)
        handle.write(b'\x40\x00\x00\x00\x00\x00\x00\x00{"half')
    fill(tmp_path, 2)
    assert stored_seqs(tmp_path) == list(range(1, 8))
    assert verifies(tmp_path) == 7


def test_a_journal_that_does_not_continue_the_index_refuses_to_open(tmp_path: Path) -> None:
    fill(tmp_path, 3)
    (tmp_path / "ledger.db.journal").unlink()  # (as if it had started a new generation at entry 4)
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(SqliteLedgerStore(tmp_path / "ledger.db"), key, "t")
    for n in range(4):
        ledger.append_blocking(intent(n))  # entries 4..7, in this generation's journal
    ledger.store.settle()
    ledger.store.close()
    lose_index_rows_after(tmp_path, 2)  # the index now ends at 2, the journal starts at 4: 3 is gone
    with pytest.raises(StoreError, match=r"starts again at entry 4 but the database ends at entry 2"):
        SqliteLedgerStore(tmp_path / "ledger.db")


def test_the_journal_starts_again_once_full_and_never_replays_an_older_generation(tmp_path: Path) -> None:
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(SqliteLedgerStore(tmp_path / "ledger.db", journal_limit=4096), key, "t")
    for n in range(60):  # ~200-byte frames; a 4 KiB generation is full after about 20
        ledger.append_blocking(intent(n))
        if n % 10 == 9:
            ledger.store.settle()  # a pause in the traffic: the journal starts again once full
    ledger.store.settle()
    ledger.store.close()
    assert os.path.getsize(tmp_path / "ledger.db.journal") <= 8 << 10  # 60 frames would need ~12 KiB
    lose_index_rows_after(tmp_path, 55)
    fill(tmp_path, 0, journal_limit=4096)
    assert stored_seqs(tmp_path) == list(range(1, 61))
    assert verifies(tmp_path) == 60


def test_only_one_process_may_own_a_ledger_and_readers_need_no_lock(tmp_path: Path) -> None:
    fill(tmp_path, 2)
    owner = SqliteLedgerStore(tmp_path / "ledger.db")
    try:
        with pytest.raises(LedgerBusyError, match="another process"):
            SqliteLedgerStore(tmp_path / "ledger.db")
        reader = SqliteLedgerStore(tmp_path / "ledger.db", writer=False)
        assert [row.seq for row in reader.rows()] == [1, 2]
        with pytest.raises(StoreError, match="read-only"):
            reader.append([])
        reader.close()
    finally:
        owner.close()
    SqliteLedgerStore(tmp_path / "ledger.db").close()  # released on close


def test_the_journal_file_is_private(tmp_path: Path) -> None:
    fill(tmp_path, 1)
    assert (tmp_path / "ledger.db.journal").stat().st_mode & 0o777 == 0o600


def test_another_process_reading_the_index_sees_entries_within_the_settle_interval(tmp_path: Path) -> None:
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(SqliteLedgerStore(tmp_path / "ledger.db"), key, "t")
    try:
        for n in range(5):
            ledger.append_blocking(intent(n))
            time.sleep(0.003)  # pauses shorter than the interval do not settle each entry ...
        deadline = time.monotonic() + 2.0
        while stored_seqs(tmp_path) != [1, 2, 3, 4, 5]:  # ... the interval does, with no one asking
            assert time.monotonic() < deadline, f"index holds {stored_seqs(tmp_path)} after 2 s"
            time.sleep(0.01)
    finally:
        ledger.close()


def test_a_generation_goes_on_across_restarts(tmp_path: Path) -> None:
    fill(tmp_path, 3)
    fill(tmp_path, 2)
    store = SqliteLedgerStore(tmp_path / "ledger.db", writer=False)
    try:
        journal = store.journal()
        assert journal is not None and [row.seq for row in journal.rows] == [1, 2, 3, 4, 5]
        assert [c.size for c in journal.checkpoints] == [3, 5]  # each close signs one, after its entries
    finally:
        store.close()


def test_a_rewritten_database_is_refused_by_its_owner(tmp_path: Path) -> None:
    fill(tmp_path, 4)
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.execute("UPDATE ledger SET body = replace(body, '\"n\":2', '\"n\":9') WHERE seq = 3")
    with pytest.raises(LedgerTamperedError, match=r"entry 3 differs in the database .* journal"):
        SqliteLedgerStore(tmp_path / "ledger.db")
