"""Prometheus metrics, in a registry of the gateway's own (not the process-wide one), served at
`/metrics` (`gateway.server.http`).

The per-call families are counted in plain dicts and lists on the event loop and turned into
metric families only when scraped (a `Collector`): prometheus-client's `Counter.labels().inc()`
and `Histogram.observe()` take a lock and look up a child each time, several microseconds a
call that a scrape every 15 s does not need. Families counted from the ledger's writer thread
take a lock of their own.

Families (every one is present in a scrape, with no samples until something happened):

    rollgate_calls_total{tool,decision,outcome}       counter
    rollgate_call_duration_seconds{outcome}           histogram
    rollgate_stage_duration_seconds{stage}            histogram  a stage's own time, not its successors'
    rollgate_approval_queue_depth                     gauge      pending tickets, read at scrape
    rollgate_approval_wait_seconds                    histogram  how long a held call's request waited for people
    rollgate_rollbacks_total{status}                  counter
    rollgate_compensations_total{outcome}             counter    compensated, not_applied, escalated, failed
    rollgate_ledger_appends_total{kind}               counter
    rollgate_ledger_fsync_seconds                     histogram  one durable write (journal pwrite + fdatasync,
                                                                 or the Postgres commit) of a batch of entries
    rollgate_guard_trips_total{guard}                 counter    `guard_tripped(guard)`
    rollgate_breaker_open{scope,key}                  gauge      1 open, 0.5 half-open, 0 closed, read at scrape

`tool` is the resolved upstream tool (`upstream/name`), a `rollgate_*` meta-tool, or
`unresolved`: never the name an agent sent for a tool that does not exist, so a client cannot
grow the label set without bound.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "BreakerState", "Metrics"]

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Seconds, from a stage's tens of microseconds to an upstream's seconds."""
WAIT_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60)
"""Seconds a held call waits for people (at most `[approvals] wait_seconds`, 50 s)."""
FSYNC_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)

BREAKER_VALUES = {"closed": 0.0, "half_open": 0.5, "open": 1.0}


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One circuit breaker as the guards report it (`scope`: `upstream` or `tool`)."""

    scope: str
    key: str
    state: Literal["closed", "half_open", "open"]


class _Counts:
    """Counters by label values; one writer at a time unless `lock`."""

    __slots__ = ("labels", "values", "_lock")

    def __init__(self, labels: tuple[str, ...], lock: bool = False) -> None:
        self.labels = labels
        self.values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock() if lock else None

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        if self._lock is None:
            self.values[key] = self.values.get(key, 0.0) + amount
        else:
            with self._lock:
                self.values[key] = self.values.get(key, 0.0) + amount

    def family(self, name: str, documentation: str) -> Metric:
        family = CounterMetricFamily(name, documentation, labels=self.labels)
        for key, value in list(self.values.items()):
            family.add_metric(list(key), value)
        return family


class _Histogram:
    """A histogram by label values: per key, the count in each bucket (not cumulative) and the sum."""

    __slots__ = ("labels", "bounds", "series", "_lock")

    def __init__(self, labels: tuple[str, ...], bounds: tuple[float, ...], lock: bool = False) -> None:
        self.labels = labels
        self.bounds = bounds
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock() if lock else None

    def child(self, key: tuple[str, ...]) -> Callable[[float], None]:
        """`observe(seconds)` for one label set, bound once (the hot path keeps it)."""
        counts, total = self.series.setdefault(key, ([0] * (len(self.bounds) + 1), [0.0]))
        bounds, lock = self.bounds, self._lock

        def observe(value: float) -> None:
            if lock is None:
                counts[bisect_left(bounds, value)] += 1
                total[0] += value
            else:
                with lock:
                    counts[bisect_left(bounds, value)] += 1
                    total[0] += value

        return observe

    def family(self, name: str, documentation: str) -> Metric:
        family = HistogramMetricFamily(name, documentation, labels=self.labels)
        for key, (counts, total) in list(self.series.items()):
            running, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), list(counts), strict=True):
                running += count
                buckets.append((_le(bound), float(running)))
            family.add_metric(list(key), buckets, total[0])
        return family


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class Metrics(Collector):
    """Every family of the gateway, in its own `CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.calls = _Counts(("tool", "decision", "outcome"))
        self.call_duration = _Histogram(("outcome",), LATENCY_BUCKETS)
        self.stage_duration = _Histogram(("stage",), LATENCY_BUCKETS)
        self.approval_wait = _Histogram((), WAIT_BUCKETS)
        self.approval_waited = self.approval_wait.child(())
        """`observe(seconds)`: a held call's request answered after waiting that long (the approve stage)."""
        self.rollbacks = _Counts(("status",))
        self.compensations = _Counts(("outcome",))
        self.ledger_appends = _Counts(("kind",), lock=True)
        self.ledger_fsync = _Histogram((), FSYNC_BUCKETS, lock=True)
        self.guard_trips = _Counts(("guard",), lock=True)
        self._fsync = self.ledger_fsync.child(())
        self._durations: dict[str, Callable[[float], None]] = {}
        self._queue_depth: Callable[[], int] | None = None
        self._breakers: Callable[[], Iterable[BreakerState]] | None = None
        self.registry.register(self)

    # -- what the gateway reports ---------------------------------------------------------

    def call(self, tool: str, decision: str, outcome: str, seconds: float) -> None:
        key = (tool, decision, outcome)
        self.calls.values[key] = self.calls.values.get(key, 0.0) + 1.0
        observe = self._durations.get(outcome)
        if observe is None:
            observe = self._durations[outcome] = self.call_duration.child((outcome,))
        observe(seconds)

    def stage(self, name: str) -> Callable[[float], None]:
        """`observe(seconds)` of one stage's own time."""
        return self.stage_duration.child((name,))

    def ledger_written(self, kinds: Iterable[object], seconds: float) -> None:
        """A durable write of entries of these kinds, which took `seconds` (the ledger's writer)."""
        for kind in kinds:
            self.ledger_appends.inc((str(getattr(kind, "value", kind)),))
        self._fsync(seconds)

    def rollback_finished(self, status: str, outcomes: Mapping[str, int]) -> None:
        self.rollbacks.inc((status,))
        for outcome, count in outcomes.items():
            if count:
                self.compensations.inc((outcome,), count)

    def guard_tripped(self, guard: str) -> None:
        """The seam for the guard stages: one trip of `guard` (loop, budget, rate, breaker, lease,
        stop, pinning)."""
        self.guard_trips.inc((guard,))

    # -- what is read at scrape (set by the composition root) -----------------------------

    def read_queue_depth(self, depth: Callable[[], int]) -> None:
        self._queue_depth = depth

    def read_breakers(self, states: Callable[[], Iterable[BreakerState]]) -> None:
        """`states()` gives every breaker the guards keep (`gateway.app` wires it to the guards)."""
        self._breakers = states

    # -- exposition -----------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition format (`CONTENT_TYPE_LATEST`)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        yield self.calls.family("rollgate_calls", "tools/call requests by tool, decision and outcome.")
        yield self.call_duration.family("rollgate_call_duration_seconds", "Time of a call through the gateway.")
        yield self.stage_duration.family("rollgate_stage_duration_seconds", "A pipeline stage's own time per call.")
        depth = GaugeMetricFamily("rollgate_approval_queue_depth", "Approval tickets pending.")
        if self._queue_depth is not None:
            depth.add_metric([], float(self._queue_depth()))
        yield depth
        yield self.approval_wait.family("rollgate_approval_wait_seconds", "Time a held call waited for approval.")
        yield self.rollbacks.family("rollgate_rollbacks", "Rollbacks finished, by the workflow's status after.")
        yield self.compensations.family("rollgate_compensations", "Steps of finished rollbacks, by outcome.")
        yield self.ledger_appends.family("rollgate_ledger_appends", "Ledger entries made durable, by kind.")
        yield self.ledger_fsync.family("rollgate_ledger_fsync_seconds", "One durable ledger write (fsync).")
        yield self.guard_trips.family("rollgate_guard_trips", "Calls a guard stopped, by guard.")
        breakers = GaugeMetricFamily(
            "rollgate_breaker_open", "Circuit breakers: 1 open, 0.5 half-open, 0 closed.", labels=("scope", "key")
        )
        for breaker in self._breakers() if self._breakers is not None else ():
            breakers.add_metric([breaker.scope, breaker.key], BREAKER_VALUES[breaker.state])
        yield breakers
