"""A monotonic clock that moves only when a test says so."""

from __future__ import annotations


class FakeTicker:
    def __init__(self, at: float = 1000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds
