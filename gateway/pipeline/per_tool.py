"""A value worked out once per tool definition: a compiled validator, dumped annotations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import mcp_types as types

T = TypeVar("T")

_KEPT = 4096
"""Definitions remembered at most: a catalogue change replaces them, and the stale ones go."""


class PerTool(Generic[T]):
    """`compute(tool)`, kept for as long as that very definition object is the one in use."""

    def __init__(self, compute: Callable[[types.Tool], T]) -> None:
        self._compute = compute
        self._kept: dict[int, tuple[types.Tool, T]] = {}

    def __call__(self, tool: types.Tool) -> T:
        kept = self._kept.get(id(tool))
        if kept is not None and kept[0] is tool:
            return kept[1]
        if len(self._kept) >= _KEPT:
            self._kept.clear()
        value = self._compute(tool)
        self._kept[id(tool)] = (tool, value)
        return value
