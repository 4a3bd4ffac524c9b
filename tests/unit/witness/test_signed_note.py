"""Signed notes, checkpoints and verifier keys are read as c2sp.org/signed-note and tlog-checkpoint say."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import NoteFormatError
from gateway.ledger.keys import KEY_NAME
from gateway.ledger.note import verifier_key
from gateway.witness.signed_note import (
    ED25519,
    NoteSignature,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    signed_by,
)
from tests.unit.witness.conftest import Log, make_log


def test_the_text_ends_at_the_last_blank_line() -> None:
    note = parse_note("a\n\nb\n\n" + "\u2014 k " + base64.b64encode(b"\0" * 10).decode() + "\n")
    assert note.text == "a\n\nb\n"
    assert [s.name for s in note.signatures] == ["k"]


def test_a_rollgate_checkpoint_reads_with_its_time_extension_line(log: Log) -> None:
    note = parse_note(log.note(7))
    checkpoint = parse_checkpoint(note.text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == (log.origin, 7, ("time 1700000007",))
    assert note.encode() == log.note(7)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("origin\n07\n" + base64.b64encode(b"r" * 32).decode() + "\n", "leading zeroes"),
        ("origin\n7\n" + base64.b64encode(b"r" * 31).decode() + "\n", "31 bytes"),
        ("origin\n7\n", "three non-empty lines"),
        ("origin\n7\n" + base64.b64encode(b"r" * 32).decode() + "\n\n", "non-empty"),
        ("origin\n7\nnot base64!\n", "not base64"),
    ],
)
def test_a_checkpoint_not_in_the_spec_format_is_refused(text: str, problem: str) -> None:
    with pytest.raises(NoteFormatError, match=problem):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "note, problem",
    [
        ("text\n", "blank line"),
        ("text\n\n", "at least one signature"),
        ("text\n\n\u2014 k AAAAAAAA", "end in a newline"),
        ("text\n\n- k AAAAAAAA\n", "not a signature line"),
        ("text\n\n\u2014 a+b AAAAAAAA\n", "not a key name"),
        ("text\n\n\u2014 k AAAA\n", "too short"),
        ("te\rxt\n\n\u2014 k AAAAAAAA\n", "control characters"),
    ],
)
def test_a_malformed_note_is_refused(note: str, problem: str) -> None:
    with pytest.raises(NoteFormatError, match=problem):
        parse_note(note)


@given(st.text(max_size=200))
def test_any_text_either_parses_or_is_a_format_error(text: str) -> None:
    try:
        note = parse_note(text)
    except NoteFormatError:
        return
    assert text.startswith(note.text)


def test_the_ledger_verifier_key_reads_back_as_an_ed25519_key(log: Log) -> None:
    public = log.key.public_key().public_bytes_raw()
    key = parse_verifier_key(verifier_key(KEY_NAME, public))
    assert (key.name, key.algorithm, key.public) == (KEY_NAME, ED25519, public)
    assert key.encode() == verifier_key(KEY_NAME, public)


def test_a_verifier_key_whose_hash_does_not_match_its_key_is_refused(log: Log) -> None:
    name, _, blob = verifier_key(KEY_NAME, log.key.public_key().public_bytes_raw()).split("+", 2)
    with pytest.raises(NoteFormatError, match="hash"):
        parse_verifier_key(f"{name}+00000000+{blob}")


def test_only_the_keys_own_signature_counts(log: Log) -> None:
    note = parse_note(log.note(5))
    assert signed_by(note, log.vkey) is True
    assert signed_by(note, make_log().vkey) is None  # another key of the same name: ignored


def test_a_signature_line_of_the_key_that_does_not_verify_is_reported(log: Log) -> None:
    note = parse_note(log.note(5))
    good = note.signatures[0]
    bad = NoteSignature(good.name, good.key_id, bytes(64))
    assert signed_by(type(note)(note.text, (bad, good)), log.vkey) is False
