"""The one clock of the gateway: what time it is, for records, expiries and policy input.

Every part that reads the time takes a `Clock` in its constructor (the composition root passes
`SYSTEM`), so a test can set the time instead of sleeping: approval expiry, the same-call window,
the policy's `input.time`, ledger timestamps and checkpoint signing times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["SYSTEM", "Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM: Clock = SystemClock()


class FixedClock:
    """A clock that moves only when told to (tests, replays)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a FixedClock needs a timezone-aware time")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += timedelta(seconds=seconds)
