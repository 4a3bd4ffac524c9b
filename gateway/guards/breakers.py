"""Circuit breakers: a thing that keeps failing is not called again until it has had time to recover.

One `Breakers` table holds a breaker per key (an upstream, a principal's tool, a compensation
tool); each moves through three states:

    closed ──(N consecutive failures)──► open ──(cool-down over)──► half-open
      ▲                                   ▲                             │
      └────────── the probe succeeds ─────┼──── the probe fails ────────┘

Closed admits every call. Open admits none and says how long the cool-down has left
(`retry_after`). Half-open admits one call at a time, the probe: its success closes the breaker,
its failure opens it for another cool-down; other calls are refused meanwhile. A probe that is
admitted and then never runs (policy refused it, it waited for an approval) gives its turn back
(`release`). Outcomes seen while open (calls admitted before it opened) do not close it.

What counts as a failure is the caller's choice (`gateway.pipeline.breaker` for calls,
`gateway.saga.rollback` for compensations); a refusal by the gateway itself is never one. Only
failing keys take memory: a key that succeeds is forgotten.

Pure state and a `Clock`: no I/O, no sleeping; tests move a `FixedClock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.clock import SYSTEM, Clock

__all__ = ["PROBE_RETRY_SECONDS", "Admission", "BreakerState", "BreakerView", "Breakers"]

PROBE_RETRY_SECONDS = 1.0
"""What a call refused while a half-open breaker's probe is in flight is told to wait."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    """Consecutive failures (reset by a success)."""
    opened_at: float | None = None
    """When it last opened (unix seconds); None while closed."""
    probe: Admission | None = None
    """The half-open probe in flight, if one is."""
    last_error: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Admission:
    """The answer to one call: whether it may go on and, if not, why (compared by identity: the
    probe a half-open breaker admitted is this very object)."""

    key: str
    allowed: bool
    state: BreakerState
    failures: int
    retry_after: float | None = None
    """Seconds until a call may be admitted again (refused calls only)."""
    probe: bool = False
    """This call is the half-open breaker's one probe."""


@dataclass(frozen=True, slots=True)
class BreakerView:
    """One breaker that is not simply closed, for status and metrics (operators only: the last
    error may name another principal's data)."""

    key: str
    state: BreakerState
    failures: int
    retry_after: float | None
    last_error: str | None


class Breakers:
    """`failures` consecutive failures open a key's breaker for `cooldown_seconds`."""

    def __init__(self, failures: int, cooldown_seconds: float, clock: Clock = SYSTEM) -> None:
        if failures < 1 or cooldown_seconds <= 0:
            raise ValueError("a breaker needs failures >= 1 and a positive cool-down")
        self.failures = failures
        self.cooldown = cooldown_seconds
        self._clock = clock
        self._breakers: dict[str, _Breaker] = {}

    def admit(self, key: str) -> Admission:
        """Whether a call of `key` may go on now; the half-open breaker's probe is claimed here."""
        breaker = self._breakers.get(key)
        if breaker is None or breaker.opened_at is None:
            return Admission(key, True, BreakerState.CLOSED, breaker.failures if breaker else 0)
        left = breaker.opened_at + self.cooldown - self._now()
        if left > 0:
            return Admission(key, False, BreakerState.OPEN, breaker.failures, retry_after=left)
        if breaker.probe is not None:
            return Admission(key, False, BreakerState.HALF_OPEN, breaker.failures, retry_after=PROBE_RETRY_SECONDS)
        breaker.probe = Admission(key, True, BreakerState.HALF_OPEN, breaker.failures, probe=True)
        return breaker.probe

    def succeeded(self, key: str) -> None:
        """A call of `key` worked: the breaker closes (unless it is open and cooling down)."""
        breaker = self._breakers.get(key)
        if breaker is not None and self._state(breaker) is not BreakerState.OPEN:
            del self._breakers[key]

    def failed(self, key: str, error: str | None = None) -> None:
        """A call of `key` failed: one more consecutive failure; the Nth opens the breaker, and a
        failure while half-open opens it again for a whole cool-down."""
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures += 1
        breaker.last_error = error
        state = self._state(breaker)
        if state is BreakerState.HALF_OPEN or (state is BreakerState.CLOSED and breaker.failures >= self.failures):
            breaker.opened_at = self._now()
            breaker.probe = None

    def release(self, admission: Admission) -> None:
        """The call `admission` let through is over; a probe whose outcome was not recorded (it
        never ran) gives the half-open breaker's turn back to the next call."""
        if not admission.probe:
            return
        breaker = self._breakers.get(admission.key)
        if breaker is not None and breaker.probe is admission:
            breaker.probe = None

    def is_open(self, key: str) -> bool:
        breaker = self._breakers.get(key)
        return breaker is not None and self._state(breaker) is BreakerState.OPEN

    def state(self) -> list[BreakerView]:
        """Every breaker that has failures: open ones with the cool-down left, half-open, and
        closed ones on their way to opening."""
        now = self._now()
        views = []
        for key, breaker in sorted(self._breakers.items()):
            state = self._state(breaker)
            left = None
            if state is BreakerState.OPEN and breaker.opened_at is not None:
                left = round(breaker.opened_at + self.cooldown - now, 3)
            views.append(BreakerView(key, state, breaker.failures, left, breaker.last_error))
        return views

    def _state(self, breaker: _Breaker) -> BreakerState:
        if breaker.opened_at is None:
            return BreakerState.CLOSED
        if self._now() < breaker.opened_at + self.cooldown:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def _now(self) -> float:
        return self._clock.now().timestamp()
