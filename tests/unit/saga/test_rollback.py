"""The rollback executor's promises, against a real saga store and a scripted upstream (the
end-to-end tests drive the demo bank; these reach the cases a real server cannot be made to
produce on demand: unavailable for exactly two tries, an answer lost after it was applied).

- A compensation is sent at most once: only errors proving it never left are retried.
- A verification mismatch is read again, then escalated with both images, never re-sent.
- An unknown step is read first: compensated only if it took effect.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import OutcomeUnknownError, UpstreamError
from gateway.ledger.events import LedgerEvent
from gateway.saga.model import Compensation, Reconcile, Step, StepStatus
from gateway.saga.rollback import Rollbacks
from gateway.saga.store import SagaStore

pytestmark = pytest.mark.anyio


class Bank:
    """A scripted upstream: one record, a compensation that deletes it, a read that shows it."""

    def __init__(self) -> None:
        self.exists = True
        self.sent: list[str] = []
        self.unavailable = 0
        """How many compensation tries fail before reaching the bank."""
        self.lose_answer = False
        self.ignore = False
        """The bank answers ok but does nothing (the state is never restored)."""

    async def run(self, tool: str, arguments: dict[str, Any], workflow: str, compensation: bool) -> dict[str, Any]:
        if tool == "delete":
            if self.unavailable:
                self.unavailable -= 1
                raise UpstreamError("upstream 'bank' is unavailable")
            self.sent.append(tool)
            if not self.ignore:
                self.exists = False
            if self.lose_answer:
                raise OutcomeUnknownError("upstream 'bank' did not answer tools/call within 1s: its outcome is unknown")
            return {"structuredContent": {"deleted": True}}
        if tool in ("get", "find"):
            return {"structuredContent": {"result": {"id": "c1"} if self.exists else None}}
        raise AssertionError(tool)


def step(status: StepStatus = StepStatus.DONE, **fields: Any) -> Step:
    return Step(
        seq=0,
        workflow="wf",
        correlation_id="c",
        principal="ada",
        tool="bank/create",
        exposed_name="bank__create",
        arguments={"email": "ada@example.com"},
        reversibility="compensable",
        impact="low",
        status=status,
        compensation=Compensation(
            tool="delete",
            arguments={"id": "c1"},
            verify_tool="get",
            verify_arguments={"id": "c1"},
            expect={"result.result": None},
        )
        if status is not StepStatus.UNKNOWN
        else None,
        **fields,
    )


@pytest.fixture
def saga(tmp_path: Path) -> SagaStore:
    store = SagaStore(tmp_path / "saga.db")
    store.claim("wf", "ada", frozenset())
    return store


def rollbacks(saga: SagaStore, bank: Bank, escalated: list[str]) -> Rollbacks:
    async def escalate(s: Step, why: str) -> str:
        escalated.append(why)
        return f"ticket-{len(escalated)}"

    async def record(event: LedgerEvent) -> None:
        return None

    return Rollbacks(saga, bank.run, escalate, record, attempts=3, backoff=0)


Scenario = Callable[[Bank], None]


async def test_a_compensation_that_never_left_is_retried_and_runs_once(saga: SagaStore) -> None:
    bank, escalated = Bank(), []
    bank.unavailable = 2
    saga.add_step(step())
    report = await rollbacks(saga, bank, escalated).run("wf")
    assert report.compensated == [1] and escalated == []
    assert bank.sent == ["delete"] and saga.steps("wf")[0].attempts == 3


async def test_a_verification_mismatch_is_escalated_with_both_images_and_never_resent(saga: SagaStore) -> None:
    bank, escalated = Bank(), []
    bank.ignore = True
    saga.add_step(step())
    report = await rollbacks(saga, bank, escalated).run("wf")
    assert report.failed and report.status == "quarantined"
    assert bank.sent == ["delete"]  # once, not three times
    assert "expected" in escalated[0] and "found" in escalated[0] and "'id': 'c1'" in escalated[0]
    again = await rollbacks(saga, bank, escalated).run("wf")  # an operator asks again
    assert again.failed and bank.sent == ["delete"] and "not sent again" in escalated[-1]


async def test_a_lost_answer_is_settled_by_the_verification_read(saga: SagaStore) -> None:
    bank, escalated = Bank(), []
    bank.lose_answer = True
    saga.add_step(step())
    report = await rollbacks(saga, bank, escalated).run("wf")
    assert report.compensated == [1] and escalated == [] and bank.sent == ["delete"]


@pytest.mark.parametrize("took_effect", [True, False])
async def test_an_unknown_step_is_read_before_anything_is_undone(saga: SagaStore, took_effect: bool) -> None:
    bank, escalated = Bank(), []
    bank.exists = took_effect
    templates = {
        "tool": "delete",
        "args": {"id": "{result.id}"},
        "verify": {"tool": "get", "args": {"id": "{result.id}"}, "expect": {"result.result": None}},
    }
    reconcile = Reconcile(
        tool="find", arguments={"email": "ada@example.com"}, found="result.result", compensation=templates
    )
    saga.add_step(step(StepStatus.UNKNOWN, reconcile=reconcile))
    report = await rollbacks(saga, bank, escalated).run("wf")
    assert escalated == [] and report.status == "rolled_back"
    if took_effect:
        assert report.compensated == [1] and bank.sent == ["delete"] and not bank.exists
    else:
        assert report.not_applied == [1] and bank.sent == []
        assert saga.steps("wf")[0].status is StepStatus.NOT_APPLIED


async def test_an_unknown_step_no_read_can_settle_goes_to_a_person(saga: SagaStore) -> None:
    bank, escalated = Bank(), []
    saga.add_step(step(StepStatus.UNKNOWN, reconcile=Reconcile()))
    report = await rollbacks(saga, bank, escalated).run("wf")
    assert report.escalated and "outcome unknown" in escalated[0] and bank.sent == []
    assert report.status == "quarantined"
