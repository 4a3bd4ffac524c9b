"""The hot path's JSON codec answers exactly as the standard library's `json` does."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import jsonwire

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def stdlib(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@given(json_values)
def test_writes_what_the_standard_library_reads_as_the_same_value(value: Any) -> None:
    written = jsonwire.dumps(value)
    assert json.loads(written) == value  # (a float's exponent may be spelled 1e-8, not 1e-08)
    assert b"\n" not in written  # one message per stdio line
    assert jsonwire.loads(written) == json.loads(written)
    assert jsonwire.loads(stdlib(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1,"a":2}',  # the last duplicate wins
        b'"\\ud800"',  # a lone surrogate escape: pydantic-core refuses, json takes it
        b"123456789012345678901234567890",
        b"[1e400, -0.0, 2.5e-7]",
        '{"é": "😀"}',
    ],
)
def test_reads_what_the_standard_library_reads(text: bytes | str) -> None:
    assert jsonwire.loads(text) == json.loads(text)


def test_nan_and_infinity_are_written_and_read_as_the_standard_library_does() -> None:
    written = jsonwire.dumps({"n": math.nan, "i": math.inf})
    assert written == b'{"n":NaN,"i":Infinity}'
    assert math.isnan(jsonwire.loads(written)["n"])


@pytest.mark.parametrize("text", [b"\xff", b"{", b"", b'{"a":}'])
def test_what_is_not_json_raises_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        jsonwire.loads(text)


def test_what_cannot_be_written_raises_the_standard_librarys_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonwire.dumps({"x": object()})


def test_a_lone_surrogate_cannot_be_written_as_utf8_either_way() -> None:
    with pytest.raises(UnicodeEncodeError):
        jsonwire.dumps({"x": "\ud800"})
