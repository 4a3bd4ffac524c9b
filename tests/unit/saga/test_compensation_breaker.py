"""A compensation tool that keeps failing trips its own breaker: retries stop, and every rollback
that needs it escalates its step at once (not sent, the workflow quarantined) until the cool-down
is over; then one rollback probes it again. The gateway's own refusal of a compensation is not
the tool failing, and counts as not sent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.clock import FixedClock
from gateway.guards.breakers import Breakers
from gateway.ledger.events import LedgerEvent, RollbackFinished
from gateway.saga.model import Step, StepStatus
from gateway.saga.rollback import Rollbacks
from gateway.saga.store import SagaStore
from tests.unit.saga.test_rollback import Bank, step

pytestmark = pytest.mark.anyio


def step_of(workflow: str) -> Step:
    return step().model_copy(update={"workflow": workflow})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 4, 12, tzinfo=UTC))


@pytest.fixture
def saga(tmp_path: Path) -> SagaStore:
    store = SagaStore(tmp_path / "saga.db")
    for workflow in ("wf", "wf2", "wf3"):
        store.claim(workflow, "ada", frozenset())
    return store


class Harness:
    def __init__(self, saga: SagaStore, bank: Bank, clock: FixedClock) -> None:
        self.escalated: list[str] = []
        self.recorded: list[LedgerEvent] = []
        self.breakers = Breakers(2, 300.0, clock)

        async def escalate(s: Step, why: str) -> str:
            self.escalated.append(why)
            return f"ticket-{len(self.escalated)}"

        async def record(event: LedgerEvent) -> None:
            self.recorded.append(event)

        self.rollbacks = Rollbacks(saga, bank.run, escalate, record, attempts=5, backoff=0, breakers=self.breakers)


async def test_a_failing_compensation_stops_being_retried_once_its_breaker_opens(
    saga: SagaStore, clock: FixedClock
) -> None:
    bank = Bank()
    bank.unavailable = 100
    harness = Harness(saga, bank, clock)
    saga.add_step(step())
    report = await harness.rollbacks.run("wf")
    assert report.failed and report.status == "quarantined"
    assert bank.unavailable == 98  # two tries of the five allowed, then the breaker stopped them
    assert harness.breakers.is_open("delete")


async def test_while_open_every_rollback_escalates_at_once_without_sending(saga: SagaStore, clock: FixedClock) -> None:
    bank = Bank()
    bank.unavailable = 2
    harness = Harness(saga, bank, clock)
    saga.add_step(step())
    saga.add_step(step_of("wf2"))
    await harness.rollbacks.run("wf")
    report = await harness.rollbacks.run("wf2")
    assert bank.sent == [] and bank.unavailable == 0  # the bank would work now: it was not asked
    assert report.failed and report.status == "quarantined"
    assert "circuit breaker is open" in harness.escalated[-1] and "escalated to a person" in harness.escalated[-1]
    [finished] = [e for e in harness.recorded if isinstance(e, RollbackFinished) and e.workflow == "wf2"]
    assert finished.failed[0]["ticket"] == "ticket-2"  # the ledgered escalation
    [saved] = saga.steps("wf2")
    assert saved.status is StepStatus.COMPENSATION_FAILED and not saved.compensation_sent


async def test_after_the_cool_down_one_rollback_probes_and_a_success_closes_it(
    saga: SagaStore, clock: FixedClock
) -> None:
    bank = Bank()
    bank.unavailable = 2
    harness = Harness(saga, bank, clock)
    saga.add_step(step())
    await harness.rollbacks.run("wf")
    clock.advance(300)
    report = await harness.rollbacks.run("wf")  # an operator asks again
    assert report.compensated == [1] and bank.sent == ["delete"]
    assert harness.breakers.state() == []


async def test_error_answers_and_failed_verifications_count_too(saga: SagaStore, clock: FixedClock) -> None:
    bank = Bank()
    bank.ignore = True  # answers ok, restores nothing: the verification fails
    harness = Harness(saga, bank, clock)
    saga.add_step(step())
    saga.add_step(step_of("wf2"))
    await harness.rollbacks.run("wf")
    assert not harness.breakers.is_open("delete")
    await harness.rollbacks.run("wf2")
    assert harness.breakers.is_open("delete") and bank.sent == ["delete", "delete"]


async def test_a_refusal_by_the_gateway_is_not_a_failure_of_the_tool_and_was_not_sent(
    saga: SagaStore, clock: FixedClock
) -> None:
    bank = Bank()
    refusal = {"content": [], "isError": True, "_meta": {"rollgate/decision": {"effect": "deny"}}}

    async def refuse(tool: str, arguments: dict[str, Any], workflow: str, compensation: bool) -> dict[str, Any]:
        return refusal if tool == "delete" else await bank.run(tool, arguments, workflow, compensation)

    harness = Harness(saga, bank, clock)
    harness.rollbacks = Rollbacks(
        saga, refuse, harness.rollbacks._escalate, harness.rollbacks._record, backoff=0, breakers=harness.breakers
    )
    for workflow in ("wf", "wf2", "wf3"):
        saga.add_step(step_of(workflow))
        report = await harness.rollbacks.run(workflow)
        assert report.failed and "refused by the gateway" in harness.escalated[-1]
    assert harness.breakers.state() == []
    assert not saga.steps("wf")[0].compensation_sent
