"""Resource leases: one workflow at a time per key, re-entry, all keys or none, bounded waits."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest

from gateway.clock import FixedClock
from gateway.guards.leases import Leases

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 4, 12, tzinfo=UTC))


async def test_a_second_workflow_is_told_which_key_another_holds(clock: FixedClock) -> None:
    leases = Leases(clock)
    assert leases.try_take(["account:1", "account:2"], "wf-a") is None
    assert leases.try_take(["account:3", "account:2"], "wf-b") == "account:2"
    assert leases.held_by_other(["account:2"], "wf-b") == "account:2"
    assert leases.held_by_other(["account:2"], "wf-a") is None


async def test_keys_are_taken_all_together_or_not_at_all(clock: FixedClock) -> None:
    leases = Leases(clock)
    leases.try_take(["account:2"], "wf-a")
    assert leases.try_take(["account:3", "account:2"], "wf-b") == "account:2"
    assert [view.key for view in leases.state()] == ["account:2"]  # account:3 was not taken


async def test_a_workflow_re_enters_its_own_lease_and_keeps_it_until_its_last_call_ends(clock: FixedClock) -> None:
    leases = Leases(clock)
    assert leases.try_take(["account:1"], "wf-a") is None
    assert not (await leases.take(["account:1"], "wf-a", wait_seconds=0)).contended
    leases.release(["account:1"], "wf-a")
    assert leases.try_take(["account:1"], "wf-b") == "account:1"
    leases.release(["account:1"], "wf-a")
    assert leases.try_take(["account:1"], "wf-b") is None


async def test_a_release_by_another_workflow_changes_nothing(clock: FixedClock) -> None:
    leases = Leases(clock)
    leases.try_take(["account:1"], "wf-a")
    leases.release(["account:1"], "wf-b")
    assert leases.held_by_other(["account:1"], "wf-b") == "account:1"


async def test_state_shows_each_lease_its_holder_and_for_how_long(clock: FixedClock) -> None:
    leases = Leases(clock)
    leases.try_take(["account:1"], "wf-a")
    clock.advance(2.5)
    [view] = leases.state()
    assert (view.key, view.holder, view.calls, view.held_seconds) == ("account:1", "wf-a", 1, 2.5)


async def test_a_waiting_call_takes_the_lease_as_soon_as_it_is_given_back(clock: FixedClock) -> None:
    leases = Leases(clock)
    leases.try_take(["account:1"], "wf-a")
    outcome = []

    async def second() -> None:
        outcome.append(await leases.take(["account:1"], "wf-b", wait_seconds=10))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            assert outcome == []  # waiting, not interleaving
            leases.release(["account:1"], "wf-a")
    [taken] = outcome
    assert taken.granted and taken.contended and taken.waited_seconds < 5
    assert [(v.key, v.holder) for v in leases.state()] == [("account:1", "wf-b")]


async def test_a_wait_is_bounded_and_then_names_the_busy_key(clock: FixedClock) -> None:
    leases = Leases(clock)
    leases.try_take(["account:1"], "wf-a")
    with anyio.fail_after(5):
        taken = await leases.take(["account:1"], "wf-b", wait_seconds=0.05)
    assert not taken.granted and taken.conflict == "account:1" and taken.waited_seconds >= 0.05


async def test_refusing_at_once_is_a_wait_of_zero(clock: FixedClock) -> None:
    leases = Leases(clock)
    leases.try_take(["account:1"], "wf-a")
    taken = await leases.take(["account:1"], "wf-b", wait_seconds=0)
    assert not taken.granted and taken.waited_seconds == 0


async def test_a_cancelled_wait_holds_nothing(clock: FixedClock) -> None:
    leases = Leases(clock)
    leases.try_take(["account:1"], "wf-a")
    with anyio.move_on_after(0.05):
        await leases.take(["account:1", "account:2"], "wf-b", wait_seconds=10)
    leases.release(["account:1"], "wf-a")
    assert leases.state() == []
