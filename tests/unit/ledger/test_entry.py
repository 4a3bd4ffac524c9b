"""An entry's body is RFC 8785 canonical JSON, whichever encoder wrote it."""

from __future__ import annotations

import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ledger.entry import canonical_json

# Everything JSON can carry, with the awkward corners weighted in: floats of every magnitude and
# integral floats, integers past 2^53, keys beyond the BMP (sorted differently by code point and by
# UTF-16 code unit), control characters, U+2028, and lone surrogates.
awkward_text = st.text(
    st.characters(codec=None, categories=None) | st.sampled_from(["\x00", "\x1f", "\x7f", "\u2028", "\ud800", "😀"]),
    max_size=6,
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1.0, 1e-4, 9.999e-5, 1e16, 1e21, 123.456, 5e-7])
    | awkward_text
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(awkward_text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=2000, deadline=None)
@given(documents)
def test_the_fast_encoder_writes_exactly_what_rfc8785_writes(document: object) -> None:
    try:
        expected = rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError) as library_error:
        with pytest.raises(type(library_error)):
            canonical_json(document)
        return
    assert canonical_json(document) == expected


@pytest.mark.parametrize("value", [1.0, 2e-7, 1e16, 1e21, -0.0, 12.5, math.pi])
def test_floats_are_written_as_rfc8785_writes_them(value: float) -> None:
    assert canonical_json({"duration_ms": value}) == rfc8785.dumps({"duration_ms": value})


def test_enum_members_and_tuples_are_written_as_rfc8785_writes_them() -> None:
    from gateway.ledger.entry import EntryKind

    document = {EntryKind.CALL_INTENT: (EntryKind.CALL_RESULT, 1, [True, None]), "k": EntryKind.QUARANTINE}
    assert canonical_json(document) == rfc8785.dumps(document)


def test_keys_are_sorted_by_utf16_code_units_not_code_points() -> None:
    document = {"\U0001f600": 1, "\uff61": 2}  # U+1F600 is D83D DE00 in UTF-16: before U+FF61
    assert canonical_json(document) == rfc8785.dumps(document)
    assert canonical_json(document).startswith('{"\U0001f600"'.encode())
