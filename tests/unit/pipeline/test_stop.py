"""Stage 1a, `Stop` (`gateway/pipeline/stop.py`): the kill switch refuses a new call before any
later stage runs, naming who stopped it; the gateway's own calls pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.guards.stop import StopSwitch
from gateway.models import CallContext, Principal
from gateway.pipeline import Call
from gateway.pipeline.stop import Stop
from gateway.pipeline.verdict import decision_in
from gateway.policy import Effect
from gateway.store.guard_state import SqliteGuardStateStore
from tests.unit.pipeline.test_confine import Next

pytestmark = pytest.mark.anyio


def call_by(principal: str, *, internal: bool = False) -> Call:
    context = CallContext(Principal(principal), "bank__transfer", {}, "wf", None, "c", internal=internal)
    return Call(context=context, links=None)  # type: ignore[arg-type]


@pytest.fixture
def switch(tmp_path: Path) -> StopSwitch:
    return StopSwitch(SqliteGuardStateStore(tmp_path / "guards.db"))


async def test_a_call_proceeds_while_nothing_is_stopped(switch: StopSwitch) -> None:
    after = Next()
    assert await Stop(switch)(call_by("a"), after) == {"ran": "a"}


async def test_a_stopped_principal_is_answered_an_error_result_naming_who_stopped_it(switch: StopSwitch) -> None:
    await switch.stop("alice", "runaway", "a")
    after, call = Next(), call_by("a")
    result = await Stop(switch)(call, after)
    assert after.calls == [] and result["isError"] is True
    assert "alice stopped the calls of agent a" in result["content"][0]["text"]
    decision = decision_in(result)
    assert decision is not None and decision["effect"] == "deny"
    assert decision["stopped"]["by"] == "alice" and decision["stopped"]["reason"] == "runaway"
    assert call.decision is not None and call.decision.effect is Effect.DENY
    assert await Stop(switch)(call_by("b"), after) == {"ran": "b"}


async def test_the_gateways_own_calls_pass_a_stop_so_rollbacks_still_run(switch: StopSwitch) -> None:
    await switch.stop("alice", "everything")
    after = Next()
    assert await Stop(switch)(call_by("rollgate-rollback", internal=True), after) == {"ran": "rollgate-rollback"}
    assert (await Stop(switch)(call_by("a"), after))["isError"] is True
