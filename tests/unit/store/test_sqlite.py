"""The embedded ledger store on real files (`gateway/store/sqlite.py`): what is appended reads back
in order with its columns, filters take only the index columns, a reader never appends, and the
files are private. (Journal recovery and ownership: `test_journal.py`.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import StoreError
from gateway.store import SqliteLedgerStore, open_ledger_store
from tests.unit.ledger.entries import chain


@pytest.fixture
def path(tmp_path: Path) -> Path:
    store = SqliteLedgerStore(tmp_path / "ledger.db")
    rows = chain(5)
    store.append(rows[:3])
    store.append(rows[3:])
    store.add_checkpoint(3, "note-3", "k1")
    store.add_checkpoint(5, "note-5", "k1")
    store.close()
    return tmp_path / "ledger.db"


def test_appended_rows_read_back_in_order_with_every_column(path: Path) -> None:
    store = SqliteLedgerStore(path, writer=False)
    assert list(store.rows()) == chain(5)
    assert store.tail() == chain(5)[-1]
    assert store.leaves() == [r.leaf for r in chain(5)]


def test_a_writer_reads_its_own_appends_before_they_are_settled(tmp_path: Path) -> None:
    store = SqliteLedgerStore(tmp_path / "ledger.db")
    store.append(chain(2))
    assert store.tail() == chain(2)[-1] and [r.seq for r in store.rows()] == [1, 2]
    store.close()


def test_rows_start_where_asked_and_filter_on_index_columns(path: Path) -> None:
    store = SqliteLedgerStore(path, writer=False)
    assert [r.seq for r in store.rows(start=4)] == [4, 5]
    assert [r.seq for r in store.rows(correlation="c2")] == [2]
    assert [r.seq for r in store.rows(workflow="wf", kind="call.intent", start=5)] == [5]
    assert list(store.rows(principal="someone-else")) == []
    assert [r.seq for r in store.rows(workflow=None)] == [1, 2, 3, 4, 5]  # None: no filter


def test_a_filter_on_anything_but_an_index_column_is_ignored_never_spliced_into_sql(path: Path) -> None:
    store = SqliteLedgerStore(path, writer=False)
    hostile: dict[str, Any] = {"body": "x", "1=1; DROP TABLE ledger; --": "x"}
    assert len(list(store.rows(**hostile))) == 5
    assert len(list(store.rows())) == 5


def test_checkpoints_read_back_oldest_first(path: Path) -> None:
    assert SqliteLedgerStore(path, writer=False).checkpoints() == [(3, "note-3", "k1"), (5, "note-5", "k1")]


def test_the_owner_keeps_the_newest_checkpoint_in_its_journal_and_a_reader_has_none(path: Path) -> None:
    assert SqliteLedgerStore(path, writer=False).newest_journal_checkpoint() is None
    owner = SqliteLedgerStore(path)
    assert owner.newest_journal_checkpoint() == "note-5"
    journal = owner.journal()
    assert journal is not None and [r.seq for r in journal.rows] == [1, 2, 3, 4, 5]
    owner.close()
    journal = SqliteLedgerStore(path, writer=False).journal()  # read without the lock
    assert journal is not None and [c.size for c in journal.checkpoints] == [3, 5]


def test_a_reader_cannot_append(path: Path) -> None:
    with pytest.raises(StoreError, match="is open read-only: only the process that owns the ledger appends"):
        SqliteLedgerStore(path, writer=False).append(chain(1, first=6))


def test_a_blob_edited_into_text_through_sql_still_reads_as_bytes(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE ledger SET body = CAST(body AS TEXT) WHERE seq = 2")
        assert db.execute("SELECT typeof(body) FROM ledger WHERE seq = 2").fetchone() == ("text",)
    row = list(SqliteLedgerStore(path, writer=False).rows(start=2))[0]
    assert isinstance(row.body, bytes) and row.body == chain(2)[1].body


def test_the_database_and_journal_are_private(path: Path) -> None:
    for name in ["ledger.db", "ledger.db.journal", "ledger.db-wal", "ledger.db-shm"]:
        file = path.with_name(name)
        if file.exists():
            assert file.stat().st_mode & 0o777 == 0o600, name
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_reader_of_a_ledger_that_does_not_exist_is_an_error_not_a_new_ledger(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=f"no ledger at {tmp_path / 'none.db'}"):
        open_ledger_store(tmp_path / "none.db", None, writer=False)
    assert not (tmp_path / "none.db").exists()
    assert isinstance(open_ledger_store(tmp_path / "new.db", None, writer=True), SqliteLedgerStore)
