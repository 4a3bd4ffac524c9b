"""Turning a raw `tools/call` request into the pipeline's `Call`, shared by both server paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mcp_types as types

from gateway.errors import CallError
from gateway.ids import new_id
from gateway.models import META_STEP, META_WORKFLOW, CallContext, Principal, ProgressSink
from gateway.pipeline import Call, TaskSupport
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


class InvalidRequestParams(CallError):
    code = types.INVALID_PARAMS


def forwardable_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request `_meta` minus what belongs to the downstream hop alone."""
    return {key: value for key, value in (meta or {}).items() if key not in _HOP_BY_HOP_META}


def build_call(
    params: Mapping[str, Any] | None,
    principal: Principal,
    links: LinkSet,
    progress: ProgressSink | None,
    session_id: str | None,
) -> Call:
    """Check the shape of raw `tools/call` params and build the call; bad shapes are -32602."""
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
    meta = forwardable_meta(raw_meta)
    workflow = meta.get(META_WORKFLOW)
    step = meta.get(META_STEP)
    context = CallContext(
        principal=principal,
        requested_name=name,
        arguments=dict(arguments or {}),
        workflow_id=workflow if isinstance(workflow, str) and workflow else (session_id or "local"),
        step=str(step) if step is not None else None,
        correlation_id=new_id("call"),
        meta=meta,
        session_key=session_id,
    )
    task = TaskSupport.CORE if isinstance(params.get("task"), Mapping) else None
    return Call(context=context, links=links.get, progress=progress, task=task)
