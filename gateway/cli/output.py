"""What commands print: on a terminal, `rich` tables and progress bars; piped, plain lines.

Scripts read the plain form (one line a row, the columns fixed-width), so it never changes with
the terminal; JSON answers (`approvals show`, `rollback`) never pass through here. `rich` is
imported only when a terminal will see its output.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

PROGRESS_FROM = 1000
"""Entries below which a verify or an export is quick enough to need no progress bar."""


def table(
    columns: Sequence[str], items: Iterable[T], cells: Callable[[T], Sequence[str]], line: Callable[[T], str]
) -> None:
    """`items` as the `cells` of a table under `columns` on a terminal; otherwise one `line` each,
    printed as they come."""
    if not sys.stdout.isatty():
        for item in items:
            print(line(item))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(*columns, box=None, header_style="bold", pad_edge=False)
    for item in items:
        grid.add_row(*(Text(cell) for cell in cells(item)))  # Text: a `[` in a tool's name is not markup
    Console(highlight=False).print(grid)


def progress(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """`items`, with a progress bar on stderr when it is a terminal and there are many of them."""
    if total < PROGRESS_FROM or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(items, total=total, description=description, console=Console(stderr=True), transient=True)
