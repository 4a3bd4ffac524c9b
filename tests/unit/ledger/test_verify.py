"""Offline verification (`gateway/ledger/verify.py`) beyond what `test_tamper.py` covers on a real
database: the journal comparison, the checkpoint messages that bound a change, malformed bodies
and notes, and extension proofs (RFC 9162 §2.1.4) from any earlier size.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.ledger.keys import KEY_NAME
from gateway.ledger.merkle import root
from gateway.ledger.note import Checkpoint
from gateway.ledger.verify import (
    SignedHead,
    VerificationError,
    describe,
    known_key,
    verify_checkpoints,
    verify_extension,
    verify_ledger,
    verify_rows,
    with_journal,
)
from gateway.store.base import JournalCheckpoint, JournalContents
from tests.unit.ledger.entries import chain, signed, with_body

KEY = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
KEYS = known_key(KEY.public_key())


def test_a_checkpoint_is_named_by_its_size_and_signing_time() -> None:
    assert describe(Checkpoint("t", 5, b"", 1795608000)) == "checkpoint (size 5, signed 2026-11-25T12:00:00Z)"
    assert describe(Checkpoint("t", 5, b"", 0)) == "checkpoint (size 5, signed ?)"


def test_a_ledger_with_its_journal_and_checkpoints_reports_what_it_checked() -> None:
    rows = chain(6)
    journal = JournalContents(rows=rows[3:], checkpoints=[JournalCheckpoint(6, signed(rows, KEY))])
    report = verify_ledger(rows[:4], [signed(rows, KEY, 2)], KEYS, journal=journal)
    assert (report.entries, report.checkpoints, report.journal_entries) == (6, 2, 3)
    assert report.root == root([r.leaf for r in rows])


def test_verified_rows_give_the_rfc_9162_leaf_hashes() -> None:
    rows = chain(3)
    assert verify_rows(rows) == [r.leaf for r in rows]


def test_a_body_that_is_not_json_is_named() -> None:
    rows = chain(3)
    rows[1] = with_body(rows[1], b"not json")
    with pytest.raises(VerificationError, match="entry 2: the body is not JSON") as failed:
        verify_rows(rows)
    assert failed.value.seq == 2


def test_a_body_that_is_json_but_not_an_object_is_named() -> None:
    rows = chain(3)
    rows[1] = with_body(rows[1], b"[2]")
    with pytest.raises(VerificationError, match="entry 2") as failed:
        verify_rows(rows)
    assert failed.value.seq == 2


def test_a_stored_leaf_that_is_not_the_bodys_is_named() -> None:
    rows = chain(2)
    rows[0] = dataclasses.replace(rows[0], leaf=b"\x00" * 32)
    with pytest.raises(VerificationError, match="entry 1: its stored Merkle leaf hash is wrong"):
        verify_rows(rows)


def test_journal_entries_the_database_has_not_indexed_yet_are_verified_after_it() -> None:
    rows = chain(5)
    assert with_journal(rows[:3], JournalContents(rows=rows[2:])) == rows
    assert with_journal(rows, None) == rows and with_journal(rows, JournalContents()) == rows


@pytest.mark.parametrize(
    ("database", "journal", "message", "seq"),
    [
        (
            [1, 2],
            [4, 5],
            r"the database ends at entry 2 but the journal goes on at entry 4: entries 3\.\.3 are missing",
            3,
        ),
        ([1, 2, 4], [3, 4], r"entry 3 is in the journal but not in the database \(deleted\)", 3),
    ],
)
def test_the_database_is_checked_against_the_journals_copy(
    database: list[int], journal: list[int], message: str, seq: int
) -> None:
    rows = chain(5)
    with pytest.raises(VerificationError, match=message) as failed:
        with_journal([rows[n - 1] for n in database], JournalContents(rows=[rows[n - 1] for n in journal]))
    assert failed.value.seq == seq


def test_a_database_entry_that_differs_from_the_journals_copy_is_rewritten() -> None:
    rows = chain(3)
    edited = with_body(rows[1], rows[1].body.replace(b'"n":2', b'"n":7'))
    with pytest.raises(VerificationError, match=r"entry 2: the database's content differs from the journal's copy"):
        with_journal([rows[0], edited, rows[2]], JournalContents(rows=rows[1:]))


def test_a_changed_entry_is_bounded_by_the_newest_checkpoint_that_still_matches() -> None:
    rows = chain(10)
    notes = [signed(rows, KEY, 3), signed(rows, KEY, 5), signed(rows, KEY, 10)]
    rows[6] = with_body(rows[6], rows[6].body.replace(b'"n":7', b'"n":8'))
    leaves = [r.leaf for r in rows]
    with pytest.raises(VerificationError) as failed:
        verify_checkpoints(leaves, [*notes[:2], SignedHead(notes[2], "the journal")], KEYS)
    assert str(failed.value) == (
        "checkpoint (size 10, signed 2026-11-25T12:00:00Z) in the journal: the entries no longer have the signed "
        "root; entries 1..5 still match an earlier checkpoint, so the change is among entries 6..10"
    )
    assert failed.value.seq == 6


def test_a_change_below_every_checkpoint_is_not_bounded() -> None:
    rows = chain(4)
    note = signed(rows, KEY)
    rows[0] = with_body(rows[0], rows[0].body.replace(b'"n":1', b'"n":9'))
    with pytest.raises(VerificationError, match=r"an entry among 1\.\.4 was changed, deleted or inserted") as failed:
        verify_checkpoints([r.leaf for r in rows], [note], KEYS)
    assert failed.value.seq is None


def test_a_malformed_or_unknown_checkpoint_is_named_with_where_it_was_found() -> None:
    rows = chain(2)
    with pytest.raises(VerificationError, match="a checkpoint in the checkpoint copy /x is malformed"):
        verify_checkpoints([r.leaf for r in rows], [SignedHead("garbage", "the checkpoint copy /x")], KEYS)
    stranger = Ed25519PrivateKey.from_private_bytes(b"\x06" * 32)
    with pytest.raises(VerificationError, match=rf"in the database is signed by an unknown key \({KEY_NAME}\+"):
        verify_checkpoints([r.leaf for r in rows], [signed(rows, stranger)], KEYS)


@pytest.mark.parametrize("earlier", [1, 2, 5, 8, 9])
def test_the_ledger_extends_every_earlier_checkpoint_of_it(earlier: int) -> None:
    rows = chain(9)
    verify_extension([r.leaf for r in rows], signed(rows, KEY, earlier), KEYS)


def test_an_earlier_checkpoint_larger_than_the_ledger_is_not_extended() -> None:
    rows = chain(9)
    with pytest.raises(
        VerificationError, match="the earlier checkpoint covers 9 entries but the ledger has 4"
    ) as failed:
        verify_extension([r.leaf for r in rows[:4]], signed(rows, KEY), KEYS)
    assert failed.value.seq == 5


def test_every_ledger_extends_a_checkpoint_of_the_empty_ledger() -> None:
    rows = chain(3)
    verify_extension([r.leaf for r in rows], signed(rows, KEY, 0), KEYS)


def test_a_body_edit_is_caught_with_the_entry_named_and_nothing_json_about_it_trusted() -> None:
    rows = chain(3)
    document = json.loads(rows[2].body)
    document["seq"] = 2
    rows[2] = with_body(rows[2], json.dumps(document).encode())
    with pytest.raises(VerificationError, match=r"entry 3: it claims to be entry 2 \(moved\)"):
        verify_rows(rows)
