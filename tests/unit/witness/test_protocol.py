"""add-checkpoint bodies are written and read as c2sp.org/tlog-witness gives them; others are 400."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import MalformedSubmission
from gateway.witness.protocol import cosigned, encode_request, encode_size, parse_request, parse_size
from tests.unit.witness.conftest import Log

SPEC_EXAMPLE = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)


def test_the_spec_example_request_parses_and_encodes_back_byte_for_byte() -> None:
    request = parse_request(SPEC_EXAMPLE.encode())
    assert request.old_size == 20852014
    assert len(request.proof) == 4
    assert request.note.startswith("example.com/behind-the-sofa\n20852163\n")
    assert encode_request(request.old_size, request.proof, request.note) == SPEC_EXAMPLE.encode()


def test_a_request_from_size_zero_has_no_proof_lines(log: Log) -> None:
    body = encode_request(0, [], log.note(3))
    assert body.startswith(b"old 0\n\n")
    assert parse_request(body).proof == ()


@given(
    st.integers(min_value=0, max_value=2**64),
    st.lists(st.binary(min_size=32, max_size=32), max_size=63),
)
def test_any_request_round_trips(old_size: int, proof: list[bytes]) -> None:
    note = "o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 k AAAAAAAA\n"
    request = parse_request(encode_request(old_size, proof, note))
    assert (request.old_size, list(request.proof), request.note) == (old_size, proof, note)


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"old 012\n\nnote", "leading zeroes"),
        (b"old -1\n\nnote", "decimal"),
        (b"new 12\n\nnote", "old size line"),
        (b"old 12\nnote", "no empty line"),
        (b"old 12\nnot base64\n\nnote", "not base64"),
        (b"old 12\n" + base64.b64encode(bytes(31)) + b"\n\nnote", "32-byte hash"),
        (b"old 12\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\nnote", "more than 63"),
        (b"old 12\n\n\xff\xfe", "UTF-8"),
        (b"old 1\n\n" + b"x" * 200_000, "larger than"),
    ],
)
def test_a_malformed_body_is_refused_as_bad_request(body: bytes, problem: str) -> None:
    with pytest.raises(MalformedSubmission, match=problem) as refused:
        parse_request(body)
    assert refused.value.status == 400


@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_are_a_bad_request(body: bytes) -> None:
    try:
        request = parse_request(body)
    except MalformedSubmission:
        return
    assert body.endswith(request.note.encode())


def test_the_conflict_body_is_the_size_and_a_newline() -> None:
    assert encode_size(20852014) == "20852014\n"
    assert parse_size("20852014\n") == 20852014
    for bad in ("20852014", "020\n", "x\n"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_cosignature_lines_are_appended_to_the_note(log: Log) -> None:
    note = log.note(2)
    assert cosigned(note, ["\u2014 w AAAA\n", "\u2014 v BBBB"]) == note + "\u2014 w AAAA\n\u2014 v BBBB\n"
