"""Resource leases: one workflow at a time mutates a blast-radius key (`account:42`).

A mutating call takes a lease on every resource key its manifest's blast radius names (rendered
from its arguments) for as long as it runs; a call of another workflow on any of those keys
meanwhile waits for it, up to a bound, or is refused (`gateway.pipeline.lease` decides which).
The keys of one call are taken together or not at all, so two calls that each need two keys
never hold one each and wait for the other. A workflow re-enters its own lease: its concurrent
calls on a key run side by side (a workflow is one agent's own plan; it is other workflows that
must not interleave with it).

In-process only: with several gateway replicas in front of one PostgreSQL store, each replica
has its own table, and two replicas can still interleave calls on one key (see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from gateway.clock import SYSTEM, Clock

__all__ = ["LeaseView", "Leases", "Taken"]


@dataclass(slots=True)
class _Lease:
    holder: str
    """The workflow that holds it."""
    calls: int
    """Calls of the holder inside it (re-entries)."""
    since: float


@dataclass(frozen=True, slots=True)
class Taken:
    """The outcome of asking for the leases of one call."""

    granted: bool
    waited_seconds: float
    conflict: str | None = None
    """The first key another workflow held when the wait ended (refused calls only)."""
    contended: bool = False
    """Another workflow held one of the keys when the call asked: it waited, or was refused."""


@dataclass(frozen=True, slots=True)
class LeaseView:
    """One held lease, for status and metrics (operators only: it names the workflow)."""

    key: str
    holder: str
    calls: int
    held_seconds: float


class Leases:
    def __init__(self, clock: Clock = SYSTEM) -> None:
        self._clock = clock
        self._held: dict[str, _Lease] = {}
        self._released: anyio.Event | None = None
        """Set (and replaced) whenever a lease is given back: what waiting calls wait on."""

    def held_by_other(self, keys: Sequence[str], holder: str) -> str | None:
        """The first of `keys` that a workflow other than `holder` holds now, if any."""
        for key in keys:
            lease = self._held.get(key)
            if lease is not None and lease.holder != holder:
                return key
        return None

    def try_take(self, keys: Sequence[str], holder: str) -> str | None:
        """Take every one of `keys` for `holder` at once, or none: None when taken, else the key
        another workflow holds."""
        conflict = self.held_by_other(keys, holder)
        if conflict is not None:
            return conflict
        now = self._now()
        for key in dict.fromkeys(keys):
            lease = self._held.get(key)
            if lease is None:
                self._held[key] = _Lease(holder, 1, now)
            else:
                lease.calls += 1
        return None

    async def take(self, keys: Sequence[str], holder: str, wait_seconds: float) -> Taken:
        """Take the leases, waiting up to `wait_seconds` for other workflows to give them back."""
        conflict = self.try_take(keys, holder)
        if conflict is None:
            return Taken(True, 0.0)
        started = anyio.current_time()
        deadline = started + wait_seconds
        while conflict is not None and (left := deadline - anyio.current_time()) > 0:
            if self._released is None:
                self._released = anyio.Event()
            released = self._released
            with anyio.move_on_after(left):
                await released.wait()
            conflict = self.try_take(keys, holder)
        waited = round(anyio.current_time() - started, 3)
        return Taken(conflict is None, waited, conflict, contended=True)

    def release(self, keys: Sequence[str], holder: str) -> None:
        """Give back `holder`'s leases on `keys` (one call's worth); waiting calls look again."""
        for key in dict.fromkeys(keys):
            lease = self._held.get(key)
            if lease is None or lease.holder != holder:
                continue
            lease.calls -= 1
            if lease.calls <= 0:
                del self._held[key]
        if self._released is not None:
            self._released.set()
            self._released = None

    def state(self) -> list[LeaseView]:
        now = self._now()
        return [
            LeaseView(key, lease.holder, lease.calls, round(now - lease.since, 3))
            for key, lease in sorted(self._held.items())
        ]

    def _now(self) -> float:
        return self._clock.now().timestamp()
