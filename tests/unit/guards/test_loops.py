"""The loop guard: the same call, and the same tool, too often within one workflow's window."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.guards.loops import LoopGuard, LoopLimits, arguments_digest
from tests.unit.guards.clock import FakeTicker

TOOL = "demo/update_record"


def run(guard: LoopGuard, arguments: dict[str, object], *, workflow: str = "wf-1", read_only: bool = False):  # type: ignore[no-untyped-def]
    """Measure one call and settle it as run (what an allowed, forwarded call does)."""
    measure, mark = guard.measure(workflow, TOOL, arguments, read_only=read_only)
    guard.settle(mark, ran=not measure.tripped)
    return measure


def test_the_same_call_is_stopped_after_k_runs_in_the_window() -> None:
    guard = LoopGuard(LoopLimits(same_call=5), FakeTicker())
    measures = [run(guard, {"key": "a", "value": "1"}) for _ in range(6)]
    assert [m.tripped for m in measures] == [False] * 5 + [True]
    stopped = measures[-1]
    assert stopped.kind == "same_call" and stopped.same_call == 5 and stopped.quarantine
    assert "would run 6 times within 60 s, over the limit of 5" in (stopped.reason or "")


def test_arguments_are_compared_canonically_so_key_order_and_number_spelling_do_not_hide_a_repeat() -> None:
    assert arguments_digest({"a": 1, "b": [1.0, "x"]}) == arguments_digest({"b": [1, "x"], "a": 1.0})
    assert arguments_digest({"a": 1}) != arguments_digest({"a": 2})
    assert arguments_digest({"big": 2**64}) == arguments_digest({"big": 2**64})  # beyond RFC 8785's numbers


def test_a_near_duplicate_loop_is_stopped_at_the_same_tool_limit() -> None:
    guard = LoopGuard(LoopLimits(same_call=5, same_tool=10), FakeTicker())
    measures = [run(guard, {"key": "a", "value": str(n)}) for n in range(11)]
    assert [m.tripped for m in measures] == [False] * 10 + [True]
    assert measures[-1].kind == "same_tool" and measures[-1].same_tool == 10


def test_calls_that_slid_out_of_the_window_no_longer_count() -> None:
    clock = FakeTicker()
    guard = LoopGuard(LoopLimits(same_call=2, window_seconds=10), clock)
    run(guard, {"k": 1})
    clock.advance(6)
    run(guard, {"k": 1})
    assert run(guard, {"k": 1}).tripped
    clock.advance(4.5)  # the first call is 10.5 s old now
    assert not run(guard, {"k": 1}).tripped


def test_a_denied_repeat_does_not_extend_its_own_lockout_and_retry_after_says_when_it_ends() -> None:
    clock = FakeTicker()
    guard = LoopGuard(LoopLimits(same_call=2, window_seconds=10, quarantine=False), clock)
    run(guard, {"k": 1})
    clock.advance(3)
    run(guard, {"k": 1})
    for _ in range(20):  # a runaway keeps trying: each refusal is dropped from the window
        clock.advance(0.25)
        refused = run(guard, {"k": 1})
        assert refused.tripped
    assert refused.retry_after is not None and abs(refused.retry_after - (10 - 8)) < 1e-9
    clock.advance(refused.retry_after)
    assert not run(guard, {"k": 1}).tripped


def test_a_quarantining_loop_gives_no_retry_after() -> None:
    guard = LoopGuard(LoopLimits(same_call=1), FakeTicker())
    run(guard, {"k": 1})
    stopped = run(guard, {"k": 1})
    assert stopped.tripped and stopped.quarantine and stopped.retry_after is None


def test_concurrent_repeats_see_each_others_reservations() -> None:
    guard = LoopGuard(LoopLimits(same_call=3), FakeTicker())
    measured = [guard.measure("wf-1", TOOL, {"k": 1}, read_only=False) for _ in range(5)]
    assert [m.tripped for m, _ in measured] == [False, False, False, True, True]
    for _, mark in measured:  # none of them ran after all (denied): nothing stays counted
        guard.settle(mark, ran=False)
    assert not run(guard, {"k": 1}).tripped


def test_repeats_of_a_call_with_an_idempotency_key_are_not_a_loop_of_the_same_call() -> None:
    guard = LoopGuard(LoopLimits(same_call=2, same_tool=10), FakeTicker())
    measured = [guard.measure("wf-1", TOOL, {"k": 1}, read_only=False, keyed=True) for _ in range(8)]
    assert not any(m.tripped for m, _ in measured)  # concurrent retries: the first runs, the rest replay
    more = [guard.measure("wf-1", TOOL, {"k": 1}, read_only=False, keyed=True)[0] for _ in range(3)]
    assert more[-1].tripped and more[-1].kind == "same_tool"  # the tool's own limit still holds


def test_reads_have_their_own_higher_limits() -> None:
    guard = LoopGuard(LoopLimits(same_call=5, read_same_call=120), FakeTicker())
    polls = [run(guard, {"job": "j1"}, read_only=True) for _ in range(120)]
    assert not any(m.tripped for m in polls)
    stopped = run(guard, {"job": "j1"}, read_only=True)
    assert stopped.tripped and not stopped.quarantine  # a loop of reads changed nothing: refused, not quarantined
    assert stopped.retry_after is not None


def test_one_workflows_loop_never_counts_against_another() -> None:
    guard = LoopGuard(LoopLimits(same_call=3), FakeTicker())
    for _ in range(3):
        run(guard, {"k": 1}, workflow="wf-ada")
    assert run(guard, {"k": 1}, workflow="wf-ada").tripped
    assert not run(guard, {"k": 1}, workflow="wf-bob").tripped


def test_a_limit_of_zero_is_no_limit() -> None:
    guard = LoopGuard(LoopLimits(same_call=0, same_tool=0), FakeTicker())
    assert not any(run(guard, {"k": 1}).tripped for _ in range(500))


def test_state_lists_recent_trips_and_forgets_idle_windows() -> None:
    clock = FakeTicker()
    guard = LoopGuard(LoopLimits(same_call=1, window_seconds=1), clock)
    run(guard, {"k": 1})
    run(guard, {"k": 1})
    state = guard.state()
    assert state["recent_trips"][0] == {
        "workflow": "wf-1",
        "tool": TOOL,
        "kind": "same_call",
        "count": 2,
        "seconds_ago": 0.0,
    }
    clock.advance(5)
    for n in range(1100):  # settles drive the sweep of windows whose calls all slid out
        run(guard, {"k": n}, workflow=f"wf-{n}")
        clock.advance(0.01)
    assert guard.state()["windows"] < 200


@given(st.lists(st.booleans(), max_size=40))
def test_only_calls_that_ran_are_counted(ran: list[bool]) -> None:
    guard = LoopGuard(LoopLimits(same_call=10_000, same_tool=10_000), FakeTicker())
    for flag in ran:
        _, mark = guard.measure("wf", TOOL, {"k": 1}, read_only=False)
        guard.settle(mark, ran=flag)
    measure, _ = guard.measure("wf", TOOL, {"k": 1}, read_only=False)
    assert measure.same_call == sum(ran) == measure.same_tool
