"""The state of one `tools/call` as it moves through the pipeline stages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import mcp_types as types

from gateway.manifests import ResolvedManifest
from gateway.models import CallContext, ProgressSink, ToolRef
from gateway.policy import Decision
from gateway.upstream.link import UpstreamLink

LinkSource = Callable[[str], Awaitable[UpstreamLink]]
"""Gives the link to an upstream for this call's downstream session."""

Result = dict[str, Any]

AskUser = Callable[[str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]
"""(method, params) → the client's answer: a server-to-client request on this call's stream."""
"""A `CallToolResult` in its wire form, passed through without re-building models."""


@dataclass(slots=True)
class Call:
    context: CallContext
    links: LinkSource
    progress: ProgressSink | None = None
    tool: ToolRef | None = None
    definition: types.Tool | None = None
    manifest: ResolvedManifest | None = None
    decision: Decision | None = None
    intent_seq: int | None = None
    """The ledger entry of this call's intent, once it is durable."""
    snapshot: Any = None
    """The before-image read by the snapshot stage, when the manifest declares one."""
    wants_task: bool = False
    """The client asked for this call to run as an MCP task (`params.task`, 2025-11-25)."""
    ask_user: AskUser | None = None
    """Sends an elicitation to the client's user during this call, when the client supports it."""


Proceed = Callable[[Call], Awaitable[Result]]


class Stage(Protocol):
    """One step of the pipeline: do its part, then `proceed` to the rest (or answer itself)."""

    async def __call__(self, call: Call, proceed: Proceed) -> Result: ...
