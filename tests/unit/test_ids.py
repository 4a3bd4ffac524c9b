"""Call and decision ids (`gateway/ids.py`): `<kind>_` and 32 hex digits, unique and ordered in a process."""

from __future__ import annotations

import re
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from gateway.ids import new_id

SHAPE = re.compile(r"(?P<kind>[a-z]+)_(?P<prefix>[0-9a-f]{16})(?P<counter>[0-9a-f]{16})")


def test_an_id_is_its_kind_and_32_hex_digits_like_a_uuid() -> None:
    match = SHAPE.fullmatch(new_id("dec"))
    assert match is not None and match["kind"] == "dec"


def test_ids_of_one_process_share_a_prefix_and_count_up_by_one() -> None:
    first, second = SHAPE.fullmatch(new_id("call")), SHAPE.fullmatch(new_id("dec"))
    assert first is not None and second is not None
    assert first["prefix"] == second["prefix"]
    assert int(second["counter"], 16) == int(first["counter"], 16) + 1


@given(st.lists(st.sampled_from(["call", "dec", "x"]), min_size=2, max_size=50))
def test_ids_are_never_the_same_twice_and_sort_in_the_order_they_were_made(kinds: list[str]) -> None:
    counters = [SHAPE.fullmatch(new_id(kind))["counter"] for kind in kinds]  # type: ignore[index]
    assert len(set(counters)) == len(counters) and counters == sorted(counters)


def test_another_process_draws_another_prefix() -> None:
    here = SHAPE.fullmatch(new_id("call"))
    there = subprocess.run(
        [sys.executable, "-c", "from gateway.ids import new_id; print(new_id('call'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    other = SHAPE.fullmatch(there)
    assert here is not None and other is not None
    assert other["prefix"] != here["prefix"] and other["counter"] == f"{1:016x}"
