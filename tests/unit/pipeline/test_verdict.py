"""Answers to calls the gateway did not run: accepted by every SDK, with or without an outputSchema.

`accepted` applies the rules the SDK clients apply: the TypeScript SDK validates any
`structuredContent` against the tool's `outputSchema` (even when `isError` is true) and wants
one on a result that is not an error; the Python SDK validates results that are not errors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import mcp_types as types
import pytest

from gateway.approvals.task import detailed_task
from gateway.approvals.ticket import State, Ticket
from gateway.pipeline.approve import answer
from gateway.pipeline.decide import refusal
from gateway.pipeline.verdict import DECISION_META, decision_in, typed_output, verdict
from gateway.policy import Decision, Effect
from gateway.policy.document import ApproverRule

WRITE_FILE_OUTPUT = {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]}
"""server-filesystem's `write_file` output schema, which the issue's held call failed against."""
TRANSFER_OUTPUT = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "amount_cents": {"type": "integer"}},
    "required": ["id", "amount_cents"],
    "additionalProperties": False,
}
TYPED = [WRITE_FILE_OUTPUT, TRANSFER_OUTPUT]


def tool(output_schema: dict[str, Any] | None) -> types.Tool:
    return types.Tool(name="write_file", input_schema={"type": "object"}, output_schema=output_schema)


def accepted(result: dict[str, Any], definition: types.Tool) -> None:
    """Raises when an SDK client would reject `result` as the answer of a call to `definition`."""
    parsed = types.CallToolResult.model_validate(result)
    schema = definition.output_schema
    if schema is None:
        return
    if parsed.structured_content is not None:  # TypeScript SDK 1.x: validated even on isError
        jsonschema.validate(parsed.structured_content, schema)
    elif not parsed.is_error:  # both SDKs: a success of a typed tool must carry structured content
        raise AssertionError("a result that is not an error has no structuredContent")


def ticket(state: State, *, typed: bool, **changes: Any) -> Ticket:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return Ticket(
        id="apr_0123456789abcdef",
        state=state,
        created_at=created.isoformat(),
        expires_at=(created + timedelta(hours=1)).isoformat(),
        principal="agent",
        workflow="wf",
        correlation_id="c",
        tool="fs/write_file",
        exposed_name="fs__write_file",
        arguments={"path": "a.txt"},
        display_arguments={"path": "a.txt"},
        decision_id="dec_1",
        reasons=["irreversible tool with high impact"],
        rules=[ApproverRule(role="approver", count=1)],
        typed_output=typed,
        **changes,
    )


NOT_RUN = [
    (State.PENDING, {}),
    (State.APPROVED, {}),
    (State.EXECUTING, {}),
    (State.DENIED, {"denied_by": "alice", "denial_reason": "not today"}),
    (State.EXPIRED, {"denial_reason": "expired"}),
    (State.FAILED, {"error": "disk full"}),
]


@pytest.mark.parametrize("schema", TYPED)
@pytest.mark.parametrize(("state", "changes"), NOT_RUN)
def test_a_held_call_of_a_typed_tool_is_answered_without_structured_content(
    schema: dict[str, Any], state: State, changes: dict[str, Any]
) -> None:
    held = answer(ticket(state, typed=True, **changes))
    accepted(held, tool(schema))
    assert "structuredContent" not in held and held["isError"] is True
    decision = decision_in(held)
    assert decision is not None and decision["approval_id"] == "apr_0123456789abcdef"
    assert decision["status"] == state.value and decision["effect"] == "require_approval"


@pytest.mark.parametrize(("state", "changes"), NOT_RUN)
def test_a_held_call_of_an_untyped_tool_keeps_the_decision_as_structured_content_too(
    state: State, changes: dict[str, Any]
) -> None:
    held = answer(ticket(state, typed=False, **changes))
    accepted(held, tool(None))
    assert held["structuredContent"] == held["_meta"][DECISION_META]
    assert held["structuredContent"]["approval_id"] == "apr_0123456789abcdef"


@pytest.mark.parametrize("state", [State.PENDING, State.APPROVED, State.EXECUTING])
def test_a_pending_answer_names_the_approval_and_how_to_poll_it(state: State) -> None:
    held = answer(ticket(state, typed=True))
    text = held["content"][0]["text"]
    assert "apr_0123456789abcdef" in text and "fs__write_file" in text
    assert 'rollgate_approval_status with {"approval_id": "apr_0123456789abcdef"}' in text
    assert decision_in(held)["poll"] == {  # type: ignore[index]
        "tool": "rollgate_approval_status",
        "arguments": {"approval_id": "apr_0123456789abcdef"},
    }


@pytest.mark.parametrize(
    ("state", "changes", "said"),
    [
        (State.DENIED, {"denied_by": "alice", "denial_reason": "not today"}, "denied by alice (not today)"),
        (State.EXPIRED, {"denial_reason": "expired"}, "expired without a decision"),
        (State.FAILED, {"error": "disk full"}, "failed when it ran: disk full"),
    ],
)
def test_a_final_answer_says_what_happened_and_that_a_new_call_asks_again(
    state: State, changes: dict[str, Any], said: str
) -> None:
    text = answer(ticket(state, typed=True, **changes))["content"][0]["text"]
    assert said in text and "apr_0123456789abcdef" in text
    assert "Making the same call again asks for a new approval." in text


def test_an_executed_call_is_answered_with_its_own_result() -> None:
    result = {"content": [], "structuredContent": {"content": "written"}, "isError": False}
    ran = ticket(State.EXECUTED, typed=True, result=result)
    assert answer(ran) == result
    assert decision_in(answer(ran)) is None


@pytest.mark.parametrize("schema", [None, *TYPED])
@pytest.mark.parametrize("effect", [Effect.DENY, Effect.REQUIRE_APPROVAL])
def test_a_refusal_is_accepted_and_carries_its_decision_in_meta(schema: dict[str, Any] | None, effect: Effect) -> None:
    decision = Decision(
        effect=effect,
        reasons=["writes outside the workspace"],
        approvers=[ApproverRule(role="approver")] if effect is Effect.REQUIRE_APPROVAL else [],
        decision_id="dec_9",
    )
    refused = refusal(decision, tool(schema))
    accepted(refused, tool(schema))
    assert ("structuredContent" in refused) is (schema is None)
    assert decision_in(refused) == {
        "effect": effect.value,
        "reasons": ["writes outside the workspace"],
        "approvers": [a.model_dump() for a in decision.approvers],
        "decision_id": "dec_9",
    }
    text = refused["content"][0]["text"]
    assert "writes outside the workspace" in text and "did not run" in text and "dec_9" in text


@pytest.mark.parametrize("typed", [True, False])
def test_a_denied_task_completes_with_a_result_every_sdk_accepts(typed: bool) -> None:
    denied = ticket(State.DENIED, typed=typed, denied_by="alice", denial_reason="no")
    task = detailed_task(denied, answer)
    assert task["status"] == "completed"
    accepted(task["result"], tool(WRITE_FILE_OUTPUT if typed else None))
    assert decision_in(task["result"])["status"] == "denied"  # type: ignore[index]


def test_only_a_declared_output_schema_makes_a_tool_typed() -> None:
    assert typed_output(tool(WRITE_FILE_OUTPUT))
    assert not typed_output(tool(None)) and not typed_output(None)


def test_a_verdict_does_not_share_its_decision_with_the_caller() -> None:
    decision = {"effect": "deny"}
    made = verdict("no", decision, typed=False)
    decision["effect"] = "allow"
    assert made["structuredContent"] == made["_meta"][DECISION_META] == {"effect": "deny"}


def test_a_tool_result_carries_no_decision() -> None:
    assert decision_in({"content": [], "_meta": {"other": 1}}) is None
    assert decision_in({"content": [], "_meta": {DECISION_META: "not a mapping"}}) is None
