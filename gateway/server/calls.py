"""Turning a raw `tools/call` request into the pipeline's `Call`, shared by both server paths."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from gateway.errors import CallError, InvalidRequestParams, LimitError
from gateway.ids import new_id
from gateway.models import META_STEP, META_WORKFLOW, CallContext, Principal, ProgressSink
from gateway.pipeline import Call, InputRound, TaskSupport
from gateway.server.tasks import TASKS_EXTENSION
from gateway.upstream.gates import declared
from gateway.upstream.pool import LinkSet

_HOP_BY_HOP_META = frozenset(
    {
        "progressToken",  # the upstream link issues its own token and relays progress back
        types.PROTOCOL_VERSION_META_KEY,  # the 2026-07-28 envelope describes the downstream hop only
        types.CLIENT_INFO_META_KEY,
        types.CLIENT_CAPABILITIES_META_KEY,
        types.LOG_LEVEL_META_KEY,
    }
)


def forwardable_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request `_meta` minus what belongs to the downstream hop alone."""
    return {key: value for key, value in (meta or {}).items() if key not in _HOP_BY_HOP_META}


TRACE_HEADERS = ("traceparent", "tracestate")
"""W3C Trace Context as HTTP headers: the call's trace context when its `_meta` carries none."""

WORKFLOW_HEADER = "rollgate-workflow"
"""An HTTP header naming the workflow, for clients that can set headers but not `_meta`."""


def depth(value: Any, limit: int) -> int:
    """The nesting depth of a JSON value, counted without recursion, up to `limit + 1`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > limit:
                return level
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def build_call(
    params: Mapping[str, Any] | None,
    principal: Principal,
    links: LinkSet,
    progress: ProgressSink | None,
    session_id: str | None,
    *,
    default_workflow: Callable[[], str] | None = None,
    header_workflow: str | None = None,
    max_depth: int = 64,
    trace: Mapping[str, str] | None = None,
) -> Call:
    """Check the shape of raw `tools/call` params and build the call; bad shapes are -32602.

    The workflow is, in order: `_meta["rollgate/workflow"]`, the `Rollgate-Workflow` header, the
    session (its MCP session id), or, for a request without a session, `default_workflow()` (the
    principal's current workflow). `trace`: the request's `traceparent`/`tracestate` HTTP headers,
    put in the call's `_meta` unless it has a `traceparent` (MCP's carrier, SEP-414, wins), so the
    pipeline reads the trace context, and the upstream receives it, from one place."""
    params = params if isinstance(params, Mapping) else {}
    name = params.get("name")
    arguments = params.get("arguments")
    raw_meta = params.get("_meta")
    if not isinstance(name, str) or not name:
        raise InvalidRequestParams("tools/call needs params.name, a non-empty string")
    if arguments is not None and not isinstance(arguments, Mapping):
        raise InvalidRequestParams("tools/call params.arguments must be an object")
    if raw_meta is not None and not isinstance(raw_meta, Mapping):
        raise InvalidRequestParams("tools/call params._meta must be an object")
    if depth(arguments, max_depth) > max_depth or depth(raw_meta, max_depth) > max_depth:
        raise LimitError(f"tools/call arguments or _meta nest deeper than {max_depth} levels (limits.max_json_depth)")
    meta = forwardable_meta(raw_meta)
    if trace and "traceparent" in trace and "traceparent" not in meta:
        meta.update(trace)
    workflow = meta.get(META_WORKFLOW)
    if not (isinstance(workflow, str) and workflow):
        workflow = header_workflow or session_id or (default_workflow() if default_workflow else "local")
    step = meta.get(META_STEP)
    context = CallContext(
        principal=principal,
        requested_name=name,
        arguments=dict(arguments or {}),
        workflow_id=workflow,
        step=str(step) if step is not None else None,
        correlation_id=new_id("call"),
        meta=meta,
        session_key=session_id,
    )
    task = TaskSupport.CORE if isinstance(params.get("task"), Mapping) else None
    return Call(context=context, links=links.get, progress=progress, task=task, capabilities=links.capabilities)


def can_elicit(capabilities: types.ClientCapabilities | None) -> bool:
    return capabilities is not None and capabilities.elicitation is not None


def stateless_round(
    call: Call, capabilities: types.ClientCapabilities | None, params: Mapping[str, Any] | None
) -> None:
    """2026-07-28: the request brings its own capabilities (tasks only if they name the
    extension: `params.task` is of the other era), and what the client answered to earlier
    input requests."""
    params = params if isinstance(params, Mapping) else {}
    extensions = (capabilities.extensions if capabilities is not None else None) or {}
    call.task = TaskSupport.EXTENSION if TASKS_EXTENSION in extensions else None
    responses = params.get("inputResponses")
    state = params.get("requestState")
    call.input_round = InputRound(
        can_elicit=can_elicit(capabilities),
        responses=responses if isinstance(responses, Mapping) else {},
        state=state if isinstance(state, str) else None,
    )
    call.capabilities = declared(capabilities)


def as_mcp_error(exc: CallError) -> MCPError:
    """The one mapping of a gateway refusal to the MCP error the client gets (code, message, data),
    for the SDK path and the fast path alike."""
    return MCPError(code=exc.code, message=exc.message, data=exc.data)
