"""The approve stage: held calls become tickets, tasks, or questions for the end user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types as types
import pytest

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.store import ApprovalStore
from gateway.models import CallContext, Principal, ToolRef
from gateway.pipeline import Call, InputRound, TaskSupport
from gateway.pipeline.approve import APPROVAL_INPUT, Approve
from gateway.pipeline.verdict import DECISION_META
from gateway.policy import Decision, Effect
from gateway.policy.document import ApproverRule

pytestmark = pytest.mark.anyio


async def never(call: Call) -> dict[str, Any]:
    raise AssertionError("a held call must not proceed")


def held_call(role: str = "end_user", **fields: Any) -> Call:
    context = CallContext(
        principal=Principal("agent"),
        requested_name="demo__create_customer",
        arguments={"name": "Ada"},
        workflow_id="wf",
        step=None,
        correlation_id="c1",
    )
    call = Call(context=context, links=None, tool=ToolRef("demo", "create_customer"), **fields)  # type: ignore[arg-type]
    call.decision = Decision(
        effect=Effect.REQUIRE_APPROVAL, reasons=["your call"], approvers=[ApproverRule(role=role)], decision_id="d1"
    )
    return call


@pytest.fixture
def stage(tmp_path: Path) -> Approve:
    return Approve(ApprovalQueue(ApprovalStore(tmp_path / "a.db"), 60, 1), wait_seconds=0, masker=None)


async def test_a_2026_client_is_asked_inline_and_its_answer_on_the_retry_decides(stage: Approve) -> None:
    asked = await stage(held_call(input_round=InputRound(can_elicit=True, responses={}, state=None)), never)
    assert asked["resultType"] == "input_required"
    ticket_id = asked["requestState"]
    assert asked["inputRequests"][APPROVAL_INPUT]["method"] == "elicitation/create"
    answer = {"action": "accept", "content": {"approve": True, "comment": "fine"}}
    retried = held_call(input_round=InputRound(can_elicit=True, responses={APPROVAL_INPUT: answer}, state=ticket_id))
    await stage(retried, never)
    decided = stage.store.get(ticket_id)
    assert decided is not None and decided.state.value == "approved"
    assert decided.approvals[0].approver == "end-user:agent"


async def test_an_answer_without_the_state_of_this_ticket_is_not_taken(stage: Approve) -> None:
    yes = {APPROVAL_INPUT: {"action": "accept", "content": {"approve": True}}}
    first = await stage(held_call(input_round=InputRound(can_elicit=True, responses=yes, state=None)), never)
    other = await stage(held_call(input_round=InputRound(can_elicit=True, responses=yes, state="apr_other")), never)
    assert first["resultType"] == other["resultType"] == "input_required"
    assert first["requestState"] == other["requestState"]  # the same ticket, still pending
    ticket = stage.store.get(first["requestState"])
    assert ticket is not None and ticket.state.value == "pending"


async def test_a_declined_inline_answer_denies_the_call(stage: Approve) -> None:
    asked = await stage(held_call(input_round=InputRound(can_elicit=True, responses={}, state=None)), never)
    no = {APPROVAL_INPUT: {"action": "decline"}}
    answered = await stage(held_call(input_round=InputRound(True, no, asked["requestState"])), never)
    assert answered["isError"] and answered["structuredContent"]["status"] == "denied"


async def test_a_client_that_cannot_elicit_leaves_the_ticket_to_the_queue(stage: Approve) -> None:
    answered = await stage(held_call(input_round=InputRound(can_elicit=False, responses={}, state=None)), never)
    assert answered["structuredContent"]["status"] == "pending"


@pytest.mark.parametrize(("support", "key"), [(TaskSupport.CORE, "task"), (TaskSupport.EXTENSION, "taskId")])
async def test_a_held_call_of_a_client_that_takes_tasks_is_answered_with_a_task(
    stage: Approve, support: TaskSupport, key: str
) -> None:
    answered = await stage(held_call(role="treasury", task=support), never)
    assert key in answered
    if support is TaskSupport.EXTENSION:
        assert answered["resultType"] == "task" and answered["status"] == "working"


async def test_a_held_call_of_a_tool_with_an_output_schema_is_answered_in_meta_only(stage: Approve) -> None:
    schema = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    definition = types.Tool(name="create_customer", input_schema={"type": "object"}, output_schema=schema)
    answered = await stage(held_call("approver", definition=definition), never)
    approval_id = answered["_meta"][DECISION_META]["approval_id"]
    assert "structuredContent" not in answered and approval_id in answered["content"][0]["text"]
    ticket = stage.store.get(approval_id)
    assert ticket is not None and ticket.typed_output
