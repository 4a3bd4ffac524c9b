"""The circuit breaker's state machine, on a clock the test moves (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.clock import FixedClock
from gateway.guards.breakers import PROBE_RETRY_SECONDS, Breakers, BreakerState


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 4, 12, tzinfo=UTC))


def opened(clock: FixedClock, failures: int = 3) -> Breakers:
    breakers = Breakers(failures, 30.0, clock)
    for _ in range(failures):
        breakers.failed("up", "down")
    return breakers


def test_a_breaker_admits_calls_until_the_nth_consecutive_failure(clock: FixedClock) -> None:
    breakers = Breakers(3, 30.0, clock)
    breakers.failed("up")
    breakers.failed("up")
    assert breakers.admit("up").allowed and breakers.admit("up").failures == 2
    breakers.failed("up")
    refused = breakers.admit("up")
    assert not refused.allowed and refused.state is BreakerState.OPEN and refused.failures == 3
    assert refused.retry_after == pytest.approx(30.0)


def test_a_success_resets_the_count_of_consecutive_failures(clock: FixedClock) -> None:
    breakers = Breakers(3, 30.0, clock)
    for _ in range(5):
        breakers.failed("up")
        breakers.failed("up")
        breakers.succeeded("up")
    assert breakers.admit("up").allowed and breakers.state() == []


def test_an_open_breaker_says_how_much_of_its_cool_down_is_left(clock: FixedClock) -> None:
    breakers = opened(clock)
    clock.advance(12)
    assert breakers.admit("up").retry_after == pytest.approx(18.0)
    [view] = breakers.state()
    assert view.state is BreakerState.OPEN and view.retry_after == pytest.approx(18.0) and view.last_error == "down"


def test_after_the_cool_down_one_probe_is_let_through_at_a_time(clock: FixedClock) -> None:
    breakers = opened(clock)
    clock.advance(30)
    probe = breakers.admit("up")
    assert probe.allowed and probe.probe and probe.state is BreakerState.HALF_OPEN
    second = breakers.admit("up")
    assert not second.allowed and second.state is BreakerState.HALF_OPEN
    assert second.retry_after == PROBE_RETRY_SECONDS


def test_a_successful_probe_closes_the_breaker(clock: FixedClock) -> None:
    breakers = opened(clock)
    clock.advance(30)
    probe = breakers.admit("up")
    breakers.succeeded("up")
    breakers.release(probe)
    assert breakers.admit("up").allowed and breakers.admit("up").state is BreakerState.CLOSED
    assert breakers.state() == []


def test_a_failed_probe_opens_the_breaker_for_a_whole_cool_down_again(clock: FixedClock) -> None:
    breakers = opened(clock)
    clock.advance(31)
    probe = breakers.admit("up")
    breakers.failed("up", "still down")
    breakers.release(probe)
    refused = breakers.admit("up")
    assert not refused.allowed and refused.state is BreakerState.OPEN
    assert refused.retry_after == pytest.approx(30.0) and refused.failures == 4


def test_a_probe_that_never_ran_gives_its_turn_to_the_next_call(clock: FixedClock) -> None:
    breakers = opened(clock)
    clock.advance(30)
    probe = breakers.admit("up")
    breakers.release(probe)  # refused by policy, say: no outcome
    assert breakers.admit("up").probe


def test_a_late_success_of_a_call_admitted_before_the_breaker_opened_does_not_close_it(clock: FixedClock) -> None:
    breakers = opened(clock)
    breakers.succeeded("up")
    assert breakers.is_open("up") and not breakers.admit("up").allowed


def test_breakers_are_kept_apart_by_key(clock: FixedClock) -> None:
    breakers = opened(clock)
    assert not breakers.admit("up").allowed and breakers.admit("other").allowed


def test_a_breaker_needs_a_threshold_and_a_cool_down() -> None:
    with pytest.raises(ValueError):
        Breakers(0, 30.0)
    with pytest.raises(ValueError):
        Breakers(3, 0)
