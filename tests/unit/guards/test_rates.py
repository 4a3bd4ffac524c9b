"""The rate guard: token buckets per principal and per principal and tool, retry_after, no lockout."""

from __future__ import annotations

from gateway.guards.rates import RateGuard, RateLimit, RateLimits
from tests.unit.guards.clock import FakeTicker

TOOL = "demo/get_account"


def call(guard: RateGuard, principal: str = "ada", tool: str = TOOL) -> bool:
    """One call that runs when it passes; whether the rate limit let it through."""
    measure, mark = guard.measure(principal, tool)
    guard.settle(mark, ran=not measure.tripped)
    return not measure.tripped


def test_a_well_behaved_agent_at_20_calls_a_second_for_30_seconds_never_meets_the_defaults() -> None:
    clock = FakeTicker()
    guard = RateGuard(RateLimits(), clock)
    passed = 0
    for _ in range(600):
        passed += call(guard)
        clock.advance(1 / 20)
    assert passed == 600
    assert guard.state()["recent_trips"] == []


def test_the_defaults_are_generous_even_for_a_burst_at_once() -> None:
    guard = RateGuard(RateLimits(), FakeTicker())
    assert all(call(guard, tool=f"demo/tool_{n % 3}") for n in range(200))  # the principal's burst
    assert not call(guard)


def test_an_empty_bucket_refuses_with_retry_after_and_waiting_that_long_is_enough() -> None:
    clock = FakeTicker()
    guard = RateGuard(RateLimits(principal=RateLimit(rate=2, burst=3)), clock)
    assert [call(guard) for _ in range(4)] == [True, True, True, False]
    refused, _ = guard.measure("ada", TOOL)
    assert refused.tripped and refused.bucket == "principal"
    assert refused.retry_after is not None and abs(refused.retry_after - 0.5) < 1e-9
    assert "retry after 0.5 s" in (refused.reason or "")
    clock.advance(refused.retry_after)
    assert call(guard)


def test_refused_calls_take_no_tokens_so_hammering_locks_nothing_out() -> None:
    clock = FakeTicker()
    guard = RateGuard(RateLimits(principal=RateLimit(rate=1, burst=1)), clock)
    assert call(guard)
    for _ in range(1000):
        assert not call(guard)
    clock.advance(1.0)
    assert call(guard)


def test_a_call_that_did_not_run_gives_its_tokens_back() -> None:
    guard = RateGuard(RateLimits(principal=RateLimit(rate=1, burst=2)), FakeTicker())
    for _ in range(10):
        measure, mark = guard.measure("ada", TOOL)
        assert not measure.tripped
        guard.settle(mark, ran=False)  # denied by policy, say


def test_a_tool_limit_applies_per_tool_and_by_glob() -> None:
    limits = RateLimits(tool=RateLimit(rate=100, burst=100), tools={"demo/transfer": RateLimit(rate=1, burst=2)})
    guard = RateGuard(limits, FakeTicker())
    assert [call(guard, tool="demo/transfer") for _ in range(3)] == [True, True, False]
    measure, _ = guard.measure("ada", "demo/transfer")
    assert measure.bucket == "tool" and "ada's calls of demo/transfer" in (measure.reason or "")
    assert call(guard, tool="demo/get_account")


def test_one_agents_rate_never_counts_against_another() -> None:
    guard = RateGuard(RateLimits(principal=RateLimit(rate=1, burst=5)), FakeTicker())
    for _ in range(5):
        call(guard, "ada")
    assert not call(guard, "ada")
    assert all(call(guard, "bob") for _ in range(5))


def test_a_rate_of_zero_turns_the_bucket_off() -> None:
    guard = RateGuard(RateLimits(principal=RateLimit(rate=0), tool=RateLimit(rate=0)), FakeTicker())
    assert all(call(guard) for _ in range(10_000))


def test_state_reports_limits_and_recent_trips() -> None:
    guard = RateGuard(RateLimits(principal=RateLimit(rate=1, burst=1)), FakeTicker())
    call(guard)
    call(guard)
    state = guard.state()
    assert state["limits"]["principal"] == {"rate": 1, "burst": 1}
    assert state["recent_trips"][0]["principal"] == "ada" and state["recent_trips"][0]["bucket"] == "principal"
