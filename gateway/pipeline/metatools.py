"""Stage 0: the tools the gateway itself offers to agents, next to the upstreams' tools.

A call to one of them is answered here, at the head of the pipeline, and goes no further; any
other call proceeds. A refused meta-tool call (bad arguments, another principal's workflow) is on
record like any other refusal (`call.refused`).

`rollgate_plan` (intent declaration) evaluates a list of intended calls without running any; the
workflow meta-tools begin, checkpoint, inspect and roll back workflows, each only for the
workflow's owner (or its team); `rollgate_approval_status` polls the caller's own held calls.
Arguments are checked against each tool's input schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import mcp_types as types
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from pydantic import ValidationError

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.ticket import State
from gateway.config import LimitsConfig
from gateway.errors import CallError, InvalidMetaToolArguments, LimitError
from gateway.ledger.events import CallRefused, Record
from gateway.pipeline.approve import answer
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.plan import Plan, Planner
from gateway.pipeline.verdict import decision_in
from gateway.saga.model import rollback_scope
from gateway.saga.service import Workflows

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


def _tool(
    name: str, title: str, description: str, properties: dict[str, Any], required: list[str], read_only: bool
) -> types.Tool:
    return types.Tool(
        name=name,
        title=title,
        description=description,
        input_schema={"type": "object", "properties": properties, "required": required, "additionalProperties": False},
        annotations=types.ToolAnnotations(read_only_hint=read_only, open_world_hint=False),
    )


_WORKFLOW = {"type": "string", "description": "default: this call's workflow"}
BEGIN = _tool(
    "rollgate_begin_workflow",
    "Begin a workflow",
    "Start a workflow and get its id; send it as _meta['rollgate/workflow'] on every call of the workflow. "
    "An atomic workflow is rolled back as a whole when one of its steps fails.",
    {"name": {"type": "string"}, "atomic": {"type": "boolean"}},
    [],
    False,
)
CHECKPOINT = _tool(
    "rollgate_checkpoint",
    "Mark a checkpoint",
    "Record a point in this workflow that a rollback can return to, with optional agent state that is "
    "handed back after such a rollback.",
    {"label": {"type": "string", "minLength": 1}, "state": {}, "workflow_id": _WORKFLOW},
    ["label"],
    False,
)
ROLLBACK = _tool(
    "rollgate_rollback",
    "Roll back a workflow",
    "Undo what a workflow did, newest step first: all of it, back to a checkpoint, named steps, or the steps "
    "touching one resource. dry_run shows the plan without running it. What cannot be undone goes to a person. "
    "A workflow, step, checkpoint or resource that was never recorded is an error, and nothing is undone.",
    {
        "workflow_id": _WORKFLOW,
        "to_checkpoint": {"type": "string", "minLength": 1},
        "steps": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1},
        "resource": {"type": "string", "minLength": 1},
        "dry_run": {"type": "boolean"},
    },
    [],
    False,
)
STATUS = _tool(
    "rollgate_status",
    "Workflow status",
    "A workflow's status (active, quarantined, rolled_back), its steps with how each can be undone, "
    "and its checkpoints.",
    {"workflow_id": _WORKFLOW},
    [],
    True,
)

META_TOOLS = {t.name: t for t in (PLAN, APPROVAL_STATUS, BEGIN, CHECKPOINT, ROLLBACK, STATUS)}


_VALIDATORS = {name: Draft202012Validator(tool.input_schema) for name, tool in META_TOOLS.items()}


def check_arguments(name: str, arguments: Any) -> None:
    """A meta-tool's arguments against its own input schema: a mismatch is -32602 naming the field."""
    error = best_match(_VALIDATORS[name].iter_errors(arguments))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "arguments"
        raise InvalidMetaToolArguments(f"invalid arguments for {name}: {where}: {error.message}")


async def call_meta_tool(
    call: Call,
    planner: Planner,
    approvals: ApprovalQueue | None,
    workflows: Workflows,
    limits: LimitsConfig,
    shared_roles: frozenset[str] = frozenset(),
    started: Callable[[str, str], None] | None = None,
) -> Result:
    name = call.context.requested_name
    check_arguments(name, dict(call.context.arguments))
    if name == PLAN.name:
        return await _plan(call, planner, limits.max_plan_calls)
    if name == APPROVAL_STATUS.name:
        return _approval_status(call, approvals)
    return await _workflow_tool(call, workflows, shared_roles, started)


async def _workflow_tool(
    call: Call, workflows: Workflows, shared_roles: frozenset[str], started: Callable[[str, str], None] | None
) -> Result:
    name, arguments = call.context.requested_name, dict(call.context.arguments)
    workflow = arguments.get("workflow_id") or call.context.workflow_id
    if not isinstance(workflow, str):
        raise InvalidMetaToolArguments("workflow_id must be a string")
    if name == ROLLBACK.name:  # before `authorize` claims the id: rolling back nothing recorded is an error
        workflows.require(workflow)
    if name != BEGIN.name:  # only the owner (or its team) acts on a workflow
        workflows.authorize(call.context.principal, workflow, shared_roles)
    if name == BEGIN.name:
        begun = workflows.begin(call.context.principal, arguments.get("name"), bool(arguments.get("atomic")))
        if started is not None:
            started(call.context.principal.id, begun)
        return _ok(
            f"Workflow {begun} started and is now your current one; calls that name no workflow join it, "
            f"or send _meta['rollgate/workflow'] = {begun!r} on its calls.",
            {"workflow_id": begun, "meta": {"rollgate/workflow": begun}},
        )
    if name == CHECKPOINT.name:
        label = arguments.get("label")
        if not isinstance(label, str) or not label:
            raise InvalidMetaToolArguments("rollgate_checkpoint needs a label")
        mark = await workflows.checkpoint(workflow, label, arguments.get("state"))
        return _ok(
            f"Checkpoint {label!r} of {workflow} after step {mark.after_seq}.",
            {"workflow_id": workflow, "label": label, "after_step": mark.after_seq},
        )
    if name == STATUS.name:
        status = workflows.status(workflow)
        return _ok(f"Workflow {workflow} is {status['status']} with {len(status['steps'])} steps.", status)
    scope, selection = rollback_scope(arguments)
    report = await workflows.rollback(workflow, scope, dry_run=bool(arguments.get("dry_run")), **selection)
    document = report.model_dump(mode="json")
    text = (
        f"Rollback of {workflow}: {len(report.compensated)} step(s) undone, {len(report.escalated)} escalated, "
        f"{len(report.failed)} failed; workflow is {report.status}."
        if not report.dry_run
        else f"Plan for rolling back {workflow}: " + "; ".join(f"step {a['step']} {a['action']}" for a in report.plan)
    )
    return _ok(text, document)


def _ok(text: str, structured: dict[str, Any]) -> Result:
    return {"content": [{"type": "text", "text": text}], "structuredContent": structured, "isError": False}


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
    # This meta-tool declares no outputSchema: its status is always the structured content.
    return {**held, "structuredContent": decision_in(held), "isError": False}


async def _plan(call: Call, planner: Planner, max_calls: int) -> Result:
    try:
        plan = Plan.model_validate(call.context.arguments)
    except ValidationError as exc:
        raise InvalidMetaToolArguments(f"invalid arguments for rollgate_plan: {exc.errors()[0]['msg']}") from None
    if len(plan.calls) > max_calls:
        raise LimitError(
            f"rollgate_plan takes at most {max_calls} calls (limits.max_plan_calls); got {len(plan.calls)}"
        )
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


class MetaTools:
    """The head stage: `rollgate_*` tools are answered by the gateway, never forwarded."""

    def __init__(
        self,
        planner: Planner,
        approvals: ApprovalQueue | None,
        workflows: Workflows,
        limits: LimitsConfig,
        record: Record,
        *,
        shared_roles: frozenset[str] = frozenset(),
        started: Callable[[str, str], None] | None = None,
    ) -> None:
        self._planner = planner
        self._approvals = approvals
        self._workflows = workflows
        self._limits = limits
        self._record = record
        self._shared_roles = shared_roles
        self._started = started

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        if call.context.requested_name not in META_TOOLS:
            return await proceed(call)
        try:
            return await call_meta_tool(
                call, self._planner, self._approvals, self._workflows, self._limits, self._shared_roles, self._started
            )
        except CallError as exc:
            context = call.context
            await self._record(
                CallRefused(
                    correlation_id=context.correlation_id,
                    principal=context.principal.id,
                    workflow=context.workflow_id,
                    requested_name=context.requested_name,
                    error=exc.message,
                )
            )
            raise
