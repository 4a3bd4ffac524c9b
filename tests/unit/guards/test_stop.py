"""The kill switch (`gateway/guards/stop.py`): everyone or one principal, who and why, durable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.clock import FixedClock
from gateway.guards.stop import StopSwitch
from gateway.ledger.events import CallsResumed, CallsStopped, LedgerEvent
from gateway.store.guard_state import SqliteGuardStateStore

pytestmark = pytest.mark.anyio
NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class Recorded(list[LedgerEvent]):
    async def __call__(self, event: LedgerEvent) -> None:
        self.append(event)


def switch(tmp_path: Path, record: Recorded | None = None) -> StopSwitch:
    return StopSwitch(SqliteGuardStateStore(tmp_path / "guards.db"), record, FixedClock(NOON))


async def test_stopping_everyone_refuses_every_principal_and_says_who_when_and_why(tmp_path: Path) -> None:
    recorded = Recorded()
    kill = switch(tmp_path, recorded)
    assert kill.stopped_for("a") is None
    stop, engaged = await kill.stop("alice", "runaway loop")
    assert engaged and kill.stopped_for("a") == stop == kill.stopped_for("b")
    assert stop.refusal().startswith("Stopped: alice stopped all calls through this gateway at 2026-12-04 12:00:00 UTC")
    assert "(runaway loop)" in stop.refusal() and "rollgate resume" in stop.refusal()
    assert recorded == [CallsStopped(by="alice", reason="runaway loop", all=True)]
    assert "principal" not in recorded[0].data()


async def test_stopping_one_principal_leaves_the_others_alone(tmp_path: Path) -> None:
    kill = switch(tmp_path)
    stop, _ = await kill.stop("alice", "looping", "agent-one")
    assert kill.stopped_for("agent-one") == stop and kill.stopped_for("agent-two") is None
    assert "the calls of agent agent-one" in stop.refusal()
    assert kill.state().all is None and kill.state().principals == [stop]


async def test_stopping_again_keeps_the_first_stop_and_records_nothing(tmp_path: Path) -> None:
    recorded = Recorded()
    kill = switch(tmp_path, recorded)
    first, _ = await kill.stop("alice", "one")
    again, engaged = await kill.stop("bob", "two")
    assert not engaged and again == first and len(recorded) == 1


async def test_resume_lifts_exactly_the_stop_it_names(tmp_path: Path) -> None:
    recorded = Recorded()
    kill = switch(tmp_path, recorded)
    await kill.stop("alice", "all", None)
    await kill.stop("alice", "one", "agent-one")
    assert await kill.resume("bob", "agent-two") is None
    lifted = await kill.resume("bob")
    assert lifted is not None and lifted.principal is None
    assert kill.stopped_for("agent-two") is None and kill.stopped_for("agent-one") is not None
    await kill.resume("bob", "agent-one")
    assert kill.stopped_for("agent-one") is None
    assert recorded[2:] == [
        CallsResumed(by="bob", all=True, stopped_by="alice"),
        CallsResumed(by="bob", all=False, principal="agent-one", stopped_by="alice"),
    ]


async def test_a_stop_survives_a_restart_and_a_resume_does_too(tmp_path: Path) -> None:
    await switch(tmp_path).stop("alice", "overnight", "agent-one")
    restarted = switch(tmp_path)
    stopped = restarted.stopped_for("agent-one")
    assert stopped is not None and (stopped.by, stopped.reason, stopped.since) == (
        "alice",
        "overnight",
        NOON.isoformat(),
    )
    await restarted.resume("bob", "agent-one")
    assert switch(tmp_path).stopped_for("agent-one") is None
