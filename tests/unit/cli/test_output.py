"""Piped, a listing is its plain lines as they come and a progress bar is absent."""

from __future__ import annotations

import pytest

from gateway.cli.output import PROGRESS_FROM, progress, table


def test_a_piped_table_prints_one_plain_line_an_item(capsys: pytest.CaptureFixture[str]) -> None:
    table(["n", "square"], [2, 3], lambda n: (str(n), str(n * n)), lambda n: f"{n}: {n * n}")
    assert capsys.readouterr().out == "2: 4\n3: 9\n"


def test_progress_off_a_terminal_hands_every_item_on_and_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    items = list(range(PROGRESS_FROM * 2))
    assert list(progress(items, len(items), "verifying")) == items
    assert capsys.readouterr() == ("", "")
