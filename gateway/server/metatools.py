"""Tools the gateway itself offers to agents, next to the upstreams' tools.

`rollgate_plan` (intent declaration) evaluates a list of intended calls without running any.
The workflow and approval meta-tools join it in later releases.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import mcp_types as types
from pydantic import ValidationError

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.ticket import State
from gateway.errors import CallError
from gateway.pipeline import Call, Planner, Result
from gateway.pipeline.approve import answer
from gateway.pipeline.plan import Plan

PLAN = types.Tool(
    name="rollgate_plan",
    title="Plan tool calls (dry run)",
    description=(
        "Declare the tool calls you intend to make. Nothing is executed: Rollgate answers, for each, "
        "whether policy would let it run, whether it needs a person's approval, and whether it can be undone."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "calls": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"tool": {"type": "string"}, "arguments": {"type": "object"}},
                    "required": ["tool"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["calls"],
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True),
)

APPROVAL_STATUS = types.Tool(
    name="rollgate_approval_status",
    title="Status of a held call",
    description=(
        "The state of a call that is waiting for human approval (pending, approved, denied, expired, "
        "executing, executed, failed) and, once it has run, its result."
    ),
    input_schema={
        "type": "object",
        "properties": {"approval_id": {"type": "string"}},
        "required": ["approval_id"],
        "additionalProperties": False,
    },
    annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True),
)

META_TOOLS = {PLAN.name: PLAN, APPROVAL_STATUS.name: APPROVAL_STATUS}


class InvalidMetaToolArguments(CallError):
    code = types.INVALID_PARAMS


async def call_meta_tool(call: Call, planner: Planner, approvals: ApprovalQueue | None) -> Result:
    name = call.context.requested_name
    if name == PLAN.name:
        return await _plan(call, planner)
    if name == APPROVAL_STATUS.name:
        return _approval_status(call, approvals)
    raise InvalidMetaToolArguments(f"unknown meta-tool {name!r}")


def _approval_status(call: Call, approvals: ApprovalQueue | None) -> Result:
    approval_id = call.context.arguments.get("approval_id")
    if not isinstance(approval_id, str):
        raise InvalidMetaToolArguments("rollgate_approval_status needs approval_id, a string")
    ticket = approvals.store.get(approval_id) if approvals is not None else None
    if ticket is None or ticket.principal != call.context.principal.id:
        raise InvalidMetaToolArguments(f"no approval {approval_id!r} of yours")
    if ticket.state is State.EXECUTED and ticket.result is not None:
        result = ticket.result
        status = {"status": "executed", "approval_id": ticket.id, "result": result}
        text = f"Approval {ticket.id} was granted and the call ran."
        return {
            "content": [{"type": "text", "text": text}, *result.get("content", [])],
            "structuredContent": status,
            "isError": False,
        }
    held = answer(ticket)
    return {**held, "isError": False}


async def _plan(call: Call, planner: Planner) -> Result:
    try:
        plan = Plan.model_validate(call.context.arguments)
    except ValidationError as exc:
        raise InvalidMetaToolArguments(f"invalid arguments for rollgate_plan: {exc.errors()[0]['msg']}") from None
    intended = [
        replace(call, context=replace(call.context, requested_name=item.tool, arguments=item.arguments))
        for item in plan.calls
    ]
    answer = await planner.plan(intended)
    return {"content": [{"type": "text", "text": render_plan(answer)}], "structuredContent": answer, "isError": False}


def render_plan(answer: dict[str, Any]) -> str:
    lines = []
    for row in answer["calls"]:
        mark = {"allow": "RUNS", "require_approval": "NEEDS APPROVAL", "deny": "DENIED"}.get(row["effect"], "ERROR")
        undo = " (irreversible)" if row.get("irreversible") else ""
        lines.append(f"{mark:<15} {row['tool']}{undo}: {'; '.join(row['reasons'])}")
    summary = answer["summary"]
    lines.append(
        f"{summary['would_run']} of {summary['total']} would run, {summary['need_approval']} need approval, "
        f"{summary['denied']} denied, {summary['irreversible']} irreversible"
    )
    return "\n".join(lines)
