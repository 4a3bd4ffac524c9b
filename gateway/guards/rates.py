"""The rate guard: token buckets per principal, and per principal and tool.

A bucket holds up to `burst` tokens and refills at `rate` tokens a second; a call takes one from
its principal's bucket and one from its tool's. A call that finds either empty is refused with
`retry_after`, the seconds until a token is back, and takes none, so waiting that long is enough:
there is no lockout. A call that was measured but did not run gives its tokens back.

Tool buckets are per principal too: one agent's traffic never counts against another's (shielding
an upstream from everyone at once is the circuit breaker's job). The defaults are far above what a
well-behaved agent does (50 calls a second sustained, bursts of 200: an agent at 20 calls a second
never meets them); they exist to stop a runaway, not to shape ordinary work.
"""

from __future__ import annotations

import fnmatch
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.policy.document import RateSignal

Ticker = Callable[[], float]
BucketKind = Literal["principal", "tool"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate: float = 50.0
    """Tokens a second (sustained calls a second); 0 turns the bucket off."""
    burst: float = 200.0
    """The bucket's size: calls that may come at once after a quiet spell."""


@dataclass(frozen=True, slots=True)
class RateLimits:
    principal: RateLimit = RateLimit()
    tool: RateLimit = RateLimit()
    tools: Mapping[str, RateLimit] = field(default_factory=dict)
    """Per-tool limits by `server/tool` glob (the first that matches), instead of `tool`."""

    def for_tool(self, tool: str) -> RateLimit:
        if not self.tools:
            return self.tool
        for pattern, limit in self.tools.items():
            if fnmatch.fnmatchcase(tool, pattern):
                return limit
        return self.tool


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float

    def refill(self, limit: RateLimit, now: float) -> None:
        self.tokens = min(limit.burst, self.tokens + (now - self.at) * limit.rate)
        self.at = now


@dataclass(frozen=True, slots=True)
class RateMark:
    keys: tuple[tuple[BucketKind, str, str], ...]
    """The buckets a token was taken from (empty when the call was refused)."""


_PASSED = RateSignal.model_construct(tripped=False)
_NOTHING = RateMark(())


class RateGuard:
    def __init__(self, limits: RateLimits = RateLimits(), clock: Ticker = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._buckets: dict[tuple[BucketKind, str, str], _Bucket] = {}
        self._trips: deque[tuple[str, str, BucketKind, float]] = deque(maxlen=50)
        self._since_sweep = 0

    def measure(self, principal: str, tool: str) -> tuple[RateSignal, RateMark]:
        now = self._clock()
        taken: list[tuple[BucketKind, str, str]] = []
        for key in (("principal", principal, ""), ("tool", principal, tool)):
            limit = self.limits.principal if key[0] == "principal" else self.limits.for_tool(tool)
            if limit.rate <= 0:
                continue
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(limit.burst, now)
            bucket.refill(limit, now)
            if bucket.tokens < 1.0:
                return self._refused(principal, tool, key[0], limit, bucket, now), _NOTHING
            taken.append(key)
        for key in taken:
            self._buckets[key].tokens -= 1.0
        return _PASSED, RateMark(tuple(taken))

    def _refused(
        self, principal: str, tool: str, kind: BucketKind, limit: RateLimit, bucket: _Bucket, now: float
    ) -> RateSignal:
        wait = (1.0 - bucket.tokens) / limit.rate
        self._trips.append((principal, tool, kind, now))
        what = f"agent {principal}" if kind == "principal" else f"agent {principal}'s calls of {tool}"
        reason = (
            f"rate limit: {what} may make {limit.rate:g} calls a second (bursts of {limit.burst:g}); "
            f"retry after {wait:.3g} s"
        )
        return RateSignal.model_construct(
            tripped=True, bucket=kind, rate=limit.rate, burst=limit.burst, retry_after=wait, reason=reason
        )

    def settle(self, mark: RateMark, ran: bool) -> None:
        """A call that did not run gives its tokens back."""
        if not ran:
            for key in mark.keys:
                bucket = self._buckets.get(key)
                if bucket is not None:
                    limit = self.limits.principal if key[0] == "principal" else self.limits.for_tool(key[2])
                    bucket.tokens = min(limit.burst, bucket.tokens + 1.0)
        self._since_sweep += 1
        if self._since_sweep >= 4096:
            self._sweep()

    def _sweep(self) -> None:
        """Forget buckets that have filled up again: a new one starts full."""
        self._since_sweep = 0
        now = self._clock()
        for key in list(self._buckets):
            limit = self.limits.principal if key[0] == "principal" else self.limits.for_tool(key[2])
            bucket = self._buckets[key]
            bucket.refill(limit, now)
            if bucket.tokens >= limit.burst:
                del self._buckets[key]

    def state(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "limits": {
                "principal": {"rate": self.limits.principal.rate, "burst": self.limits.principal.burst},
                "tool": {"rate": self.limits.tool.rate, "burst": self.limits.tool.burst},
                "tools": {k: {"rate": v.rate, "burst": v.burst} for k, v in self.limits.tools.items()},
            },
            "buckets": len(self._buckets),
            "recent_trips": [
                {"principal": p, "tool": t, "bucket": b, "seconds_ago": round(now - at, 3)}
                for p, t, b, at in reversed(self._trips)
            ],
        }
