"""`Metrics`: every family in each scrape, counted without prometheus-client's per-call locks."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.observability.metrics import BreakerState, Metrics

FAMILIES = {  # every family the gateway serves: the docstring of gateway/observability/metrics.py
    "rollgate_calls",
    "rollgate_call_duration_seconds",
    "rollgate_stage_duration_seconds",
    "rollgate_approval_queue_depth",
    "rollgate_approval_wait_seconds",
    "rollgate_rollbacks",
    "rollgate_compensations",
    "rollgate_ledger_appends",
    "rollgate_ledger_fsync_seconds",
    "rollgate_guard_trips",
    "rollgate_breaker_open",
}


def scrape(metrics: Metrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(metrics.render().decode())
    }


def test_a_fresh_gateway_exposes_every_family() -> None:
    assert set(scrape(Metrics())) == FAMILIES


def test_two_gateways_in_one_process_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.call("up/t", "allow", "ok", 0.001)
    assert scrape(second)["rollgate_calls"] == []
    assert scrape(first)["rollgate_calls"] == [
        ("rollgate_calls_total", {"tool": "up/t", "decision": "allow", "outcome": "ok"}, 1.0)
    ]


def test_histogram_buckets_are_cumulative_and_count_every_observation() -> None:
    metrics = Metrics()
    observe = metrics.stage("decide")
    for seconds in (0.00005, 0.0002, 0.0002, 3.0):
        observe(seconds)
    samples = scrape(metrics)["rollgate_stage_duration_seconds"]
    buckets = {labels["le"]: value for name, labels, value in samples if name.endswith("_bucket")}
    assert buckets["0.0001"] == 1 and buckets["0.00025"] == 3 and buckets["2.5"] == 3 and buckets["+Inf"] == 4
    count = next(value for name, _, value in samples if name.endswith("_count"))
    total = next(value for name, _, value in samples if name.endswith("_sum"))
    assert count == 4 and abs(total - 3.00045) < 1e-9


def test_the_queue_depth_and_breakers_are_read_at_scrape() -> None:
    metrics = Metrics()
    depth = [3]
    metrics.read_queue_depth(lambda: depth[0])
    metrics.read_breakers(
        lambda: [BreakerState("upstream", "bank", "open"), BreakerState("tool", "bank/x", "half_open")]
    )
    depth[0] = 5
    samples = scrape(metrics)
    assert samples["rollgate_approval_queue_depth"] == [("rollgate_approval_queue_depth", {}, 5.0)]
    assert sorted(samples["rollgate_breaker_open"], key=lambda s: s[2]) == [
        ("rollgate_breaker_open", {"scope": "tool", "key": "bank/x"}, 0.5),
        ("rollgate_breaker_open", {"scope": "upstream", "key": "bank"}, 1.0),
    ]


def test_ledger_writes_rollbacks_and_guard_trips_are_counted() -> None:
    metrics = Metrics()
    metrics.ledger_written(["call.intent", "call.result"], 0.0002)
    metrics.rollback_finished("rolled_back", {"compensated": 2, "failed": 0})
    metrics.guard_tripped("loop")
    samples = scrape(metrics)
    assert {labels["kind"] for _, labels, _ in samples["rollgate_ledger_appends"]} == {"call.intent", "call.result"}
    assert ("rollgate_rollbacks_total", {"status": "rolled_back"}, 1.0) in samples["rollgate_rollbacks"]
    assert samples["rollgate_compensations"] == [("rollgate_compensations_total", {"outcome": "compensated"}, 2.0)]
    assert samples["rollgate_guard_trips"] == [("rollgate_guard_trips_total", {"guard": "loop"}, 1.0)]
    fsync = {name: value for name, _, value in samples["rollgate_ledger_fsync_seconds"] if not name.endswith("_bucket")}
    assert fsync["rollgate_ledger_fsync_seconds_count"] == 1
