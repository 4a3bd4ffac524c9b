"""Tickets as MCP tasks in both eras: pure shapes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.store import ApprovalStore
from gateway.approvals.task import created_task, detailed_task, ran_at_once, task_of
from gateway.approvals.ticket import State, Ticket, call_digest, withdraw, withdrawn
from gateway.errors import AlreadyDecided, NotAllowed
from gateway.policy.document import ApproverRule


def ticket(tmp_path: Any, **changes: Any) -> Ticket:
    queue = ApprovalQueue(ApprovalStore(tmp_path / "a.db"), ttl_seconds=60, poll_seconds=1)
    made = queue.new_ticket(
        principal="agent",
        principal_roles=[],
        workflow="wf",
        step=None,
        correlation_id="c",
        tool="demo/transfer",
        exposed_name="demo__transfer",
        arguments={"amount_cents": 5},
        display_arguments={"amount_cents": 5},
        meta={},
        manifest={},
        decision_id="d",
        reasons=["big"],
        rules=[ApproverRule(role="treasury", count=1)],
        dedup_key=call_digest("agent", "wf", "demo/transfer", {"amount_cents": 5}),
    )
    return made.model_copy(update=changes)


def refusal(t: Ticket) -> dict[str, Any]:
    return {"isError": True, "content": [], "structuredContent": {"status": t.state.value}}


def test_a_pending_ticket_is_a_working_task_in_both_eras(tmp_path) -> None:
    pending = ticket(tmp_path)
    core, extension = task_of(pending), detailed_task(pending, refusal)
    assert core["status"] == extension["status"] == "working"
    assert core["pollInterval"] == extension["pollIntervalMs"] == 1000
    assert "ttl" in core and "ttlMs" in extension and "result" not in extension


def test_an_executed_ticket_carries_its_result_inline_only_in_the_2026_shape(tmp_path) -> None:
    result = {"content": [], "structuredContent": {"amount_cents": 5}}
    done = ticket(tmp_path, state=State.EXECUTED, result=result)
    assert task_of(done)["status"] == "completed" and "result" not in task_of(done)
    assert detailed_task(done, refusal)["result"] == result


def test_a_denied_ticket_completes_with_the_refusal_and_a_failed_one_fails_with_the_error(tmp_path) -> None:
    denied = ticket(tmp_path, state=State.DENIED, denied_by="alice", denial_reason="no")
    failed = ticket(tmp_path, state=State.FAILED, error="upstream down")
    assert task_of(denied)["status"] == "failed" and "alice" in task_of(denied)["statusMessage"]
    assert detailed_task(denied, refusal)["status"] == "completed"
    assert detailed_task(denied, refusal)["result"]["structuredContent"]["status"] == "denied"
    assert detailed_task(failed, refusal)["error"]["message"] == "upstream down"


def test_the_agent_that_asked_can_withdraw_its_pending_call_and_nobody_else_can(tmp_path) -> None:
    pending = ticket(tmp_path)
    with pytest.raises(NotAllowed):
        withdraw(pending, "someone-else", "mine now")
    gone = withdraw(pending, "agent", "changed my mind")
    assert withdrawn(gone) and gone.state is State.DENIED
    assert task_of(gone)["status"] == detailed_task(gone, refusal)["status"] == "cancelled"
    with pytest.raises(AlreadyDecided):
        withdraw(gone, "agent", "again")


def test_a_created_2026_task_is_the_seed_without_result_and_says_it_is_a_task(tmp_path) -> None:
    done = ticket(tmp_path, state=State.EXECUTED, result={"content": []})
    seed = created_task(done)
    assert seed["resultType"] == "task" and seed["taskId"] == done.id and "result" not in seed


def test_a_call_that_ran_at_once_is_a_completed_task_from_its_creation() -> None:
    task = ran_at_once("task_1", "2026-12-01T00:00:00+00:00")
    assert task["status"] == "completed" and task["createdAt"] == task["lastUpdatedAt"]
