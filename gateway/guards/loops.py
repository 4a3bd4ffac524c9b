"""The runaway-loop guard: one workflow calling the same tool again and again.

Two sliding windows per workflow and tool: the same tool with the same arguments (compared as
their RFC 8785 canonical bytes, so key order and number spelling do not hide a repeat), and the
same tool with any arguments (a near-duplicate loop: the amount or the memo changes each time).
A call that would be one more than the limit within the window trips the guard.

Only calls that ran are counted: a call is reserved in the window when it is measured (so
concurrent repeats see each other) and the reservation is dropped if the call did not run
(denied, held, failed before forwarding). A denied repeat therefore never extends its own
lockout: once the window has slid past the calls that ran, the same call passes again, and
`retry_after` says when (unless the workflow was quarantined, which an operator lifts).

Limits are split by what a repeat costs. A repeated mutation is the classic incident (duplicate
charges, duplicate records): the defaults stop the sixth identical mutation within a minute and the
sixty-first of one tool. Reads repeat legitimately (an agent polling a job every half second
makes 120 identical reads a minute), so their limits are higher or off; the rate limit bounds
them anyway.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import rfc8785

from gateway.ledger.entry import canonical_json, jsonable
from gateway.policy.document import LoopSignal

Ticker = Callable[[], float]
"""Monotonic seconds (`time.monotonic`); tests pass a fake one."""

LoopKind = Literal["same_call", "same_tool"]


@dataclass(frozen=True, slots=True)
class LoopLimits:
    window_seconds: float = 60.0
    same_call: int = 5
    """Mutating calls of one tool with the same canonical arguments per window (0: no limit)."""
    same_tool: int = 60
    """Mutating calls of one tool with any arguments per window (0: no limit)."""
    read_same_call: int = 120
    """The same for tools whose manifest says read_only."""
    read_same_tool: int = 0
    quarantine: bool = True
    """A tripped loop of mutations asks (through the default policy) for its workflow to be
    quarantined; a loop of reads, which changes nothing, is only refused until its window frees."""


@dataclass(eq=False, slots=True)
class _Entry:
    at: float
    digest: bytes


@dataclass(slots=True)
class _Window:
    entries: deque[_Entry] = field(default_factory=deque)
    digests: dict[bytes, int] = field(default_factory=dict)

    def slide(self, since: float) -> None:
        while self.entries and self.entries[0].at <= since:
            self._forget(self.entries.popleft())

    def add(self, entry: _Entry) -> None:
        self.entries.append(entry)
        self.digests[entry.digest] = self.digests.get(entry.digest, 0) + 1

    def remove(self, entry: _Entry) -> None:
        try:
            self.entries.remove(entry)
        except ValueError:  # slid out of the window already
            return
        self._forget(entry)

    def _forget(self, entry: _Entry) -> None:
        left = self.digests[entry.digest] - 1
        if left:
            self.digests[entry.digest] = left
        else:
            del self.digests[entry.digest]


@dataclass(frozen=True, slots=True)
class LoopMark:
    """The reservation a measured call holds until it settles."""

    key: tuple[str, str]
    entry: _Entry


@dataclass(frozen=True, slots=True)
class LoopTrip:
    workflow: str
    tool: str
    kind: LoopKind
    count: int
    at: float


def arguments_digest(arguments: Mapping[str, Any]) -> bytes:
    """SHA-256 of the arguments' RFC 8785 canonical form, as the ledger writes it (its fast encoder
    where that is provably the same; big integers as `jsonable` writes them)."""
    try:
        canonical = canonical_json(dict(arguments))
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        canonical = canonical_json(jsonable(dict(arguments)))
    return hashlib.sha256(canonical).digest()


class LoopGuard:
    def __init__(self, limits: LoopLimits = LoopLimits(), clock: Ticker = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._trips: deque[LoopTrip] = deque(maxlen=50)
        self._since_sweep = 0

    def measure(
        self, workflow: str, tool: str, arguments: Mapping[str, Any], *, read_only: bool, keyed: bool = False
    ) -> tuple[LoopSignal, LoopMark]:
        """Count this call against the window and reserve its place (`settle` keeps or drops it).

        A `keyed` call carries an idempotency key: the gateway runs it once and answers its repeats
        with the recorded result, so repeating it is safe and the same-call limit does not apply
        (concurrent retries would otherwise look like a burst of the same call)."""
        now = self._clock()
        limits = self.limits
        key = (workflow, tool)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        window.slide(now - limits.window_seconds)
        entry = _Entry(now, arguments_digest(arguments))
        same_call, same_tool = window.digests.get(entry.digest, 0), len(window.entries)
        call_limit = 0 if keyed else limits.read_same_call if read_only else limits.same_call
        tool_limit = limits.read_same_tool if read_only else limits.same_tool
        kind: LoopKind | None = None
        if call_limit and same_call >= call_limit:
            kind = "same_call"
        elif tool_limit and same_tool >= tool_limit:
            kind = "same_tool"
        window.add(entry)
        measure = LoopSignal.model_construct(
            tripped=kind is not None,
            same_call=same_call,
            same_tool=same_tool,
            same_call_limit=call_limit,
            same_tool_limit=tool_limit,
            window_seconds=limits.window_seconds,
            kind=kind,
        )
        if kind is not None:
            measure = self._tripped(measure, window, entry, workflow, tool, now, quarantine=not read_only)
        return measure, LoopMark(key, entry)

    def _tripped(
        self,
        measure: LoopSignal,
        window: _Window,
        entry: _Entry,
        workflow: str,
        tool: str,
        now: float,
        *,
        quarantine: bool,
    ) -> LoopSignal:
        limits = self.limits
        if measure.kind == "same_call":
            count, limit = measure.same_call, measure.same_call_limit
            ran = [e.at for e in window.entries if e.digest == entry.digest and e is not entry]
            what = "the same call (same tool, same arguments)"
        else:
            count, limit = measure.same_tool, measure.same_tool_limit
            ran = [e.at for e in window.entries if e is not entry]
            what = f"tool {tool}"
        # The window must lose (count - limit + 1) of the calls that ran before this one passes.
        frees_at = ran[count - limit] + limits.window_seconds
        self._trips.append(LoopTrip(workflow, tool, measure.kind or "same_call", count + 1, now))
        reason = (
            f"workflow {workflow} looks like a runaway loop: {what} would run {count + 1} times "
            f"within {limits.window_seconds:g} s, over the limit of {limit}"
        )
        quarantine = quarantine and limits.quarantine
        retry_after = None if quarantine else max(frees_at - now, 0.0)
        return measure.model_copy(update={"quarantine": quarantine, "retry_after": retry_after, "reason": reason})

    def settle(self, mark: LoopMark, ran: bool) -> None:
        """Keep the call in its window if it ran; drop its reservation if it did not."""
        if not ran:
            window = self._windows.get(mark.key)
            if window is not None:
                window.remove(mark.entry)
        self._since_sweep += 1
        if self._since_sweep >= 1024:
            self._sweep()

    def _sweep(self) -> None:
        """Forget windows whose calls have all slid out (bounded memory for many workflows)."""
        self._since_sweep = 0
        since = self._clock() - self.limits.window_seconds
        for key in list(self._windows):
            window = self._windows[key]
            window.slide(since)
            if not window.entries:
                del self._windows[key]

    def state(self) -> dict[str, Any]:
        """For status and metrics: the limits, the windows tracked and the recent trips."""
        now = self._clock()
        return {
            "limits": {
                "window_seconds": self.limits.window_seconds,
                "same_call": self.limits.same_call,
                "same_tool": self.limits.same_tool,
                "read_same_call": self.limits.read_same_call,
                "read_same_tool": self.limits.read_same_tool,
                "quarantine": self.limits.quarantine,
            },
            "windows": len(self._windows),
            "recent_trips": [
                {
                    "workflow": t.workflow,
                    "tool": t.tool,
                    "kind": t.kind,
                    "count": t.count,
                    "seconds_ago": round(now - t.at, 3),
                }
                for t in reversed(self._trips)
            ],
        }
