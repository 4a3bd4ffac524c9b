"""The state of one `tools/call` as it moves through the pipeline stages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

import mcp_types as types

from gateway.ledger.privacy import Masker, Redaction
from gateway.manifests import ResolvedManifest
from gateway.models import CallContext, ProgressSink, ToolRef
from gateway.policy import Decision
from gateway.upstream.gates import Capability
from gateway.upstream.link import UpstreamLink

if TYPE_CHECKING:
    from gateway.observability import CallWatch

LinkSource = Callable[[str], Awaitable[UpstreamLink]]
"""Gives the link to an upstream for this call's downstream session."""

Result = dict[str, Any]
"""A `CallToolResult` in its wire form, passed through without re-building models."""

AskUser = Callable[[str, Mapping[str, Any] | None], Awaitable[dict[str, Any]]]
"""(method, params) → the client's answer: a server-to-client request on this call's stream."""


class TaskSupport(Enum):
    """How the client that made a call takes MCP tasks, if it does."""

    CORE = "2025-11-25"
    """`params.task` on a handshake-era session: every answer is a `CreateTaskResult`."""
    EXTENSION = "io.modelcontextprotocol/tasks"
    """2026-07-28, declared in the request's capabilities: the server chooses; held calls are tasks."""


@dataclass(frozen=True, slots=True)
class InputRound:
    """A 2026-07-28 `tools/call` that may be answered `input_required` (a multi-round call)."""

    can_elicit: bool
    """The request's capabilities include elicitation."""
    responses: Mapping[str, Any]
    """The client's `inputResponses` on this round (empty on the first)."""
    state: str | None
    """The `requestState` this gateway minted, as verified and unsealed by the SDK."""


@dataclass(slots=True)
class Call:
    context: CallContext
    links: LinkSource
    progress: ProgressSink | None = None
    tool: ToolRef | None = None
    definition: types.Tool | None = None
    definition_changed: bool = False
    """The tool is held: its upstream changed its definition since it was pinned, and no
    operator accepted the change yet (`gateway.guards.pins`); policy reads it as
    `input.tool.definition_changed`."""
    manifest: ResolvedManifest | None = None
    decision: Decision | None = None
    intent_seq: int | None = None
    """The ledger entry of this call's intent, once it is durable."""
    snapshot: Any = None
    """The before-image read by the snapshot stage, when the manifest declares one."""
    task: TaskSupport | None = None
    """Whether, and in which era's shape, this call may be answered with an MCP task."""
    ask_user: AskUser | None = None
    """Sends an elicitation to the client's user during this call, when the client supports it."""
    input_round: InputRound | None = None
    """Set on 2026-07-28 calls: what the client answered to the gateway's input requests."""
    capabilities: frozenset[Capability] | None = None
    """What the calling client declared (roots, sampling, elicitation): a tool its upstream
    offers only to clients with others is not resolved (None: the gateway's own calls)."""
    held_digest: str | None = None
    """The digest of the held call's ticket (recorded in `call.held`)."""
    held_approval: str | None = None
    """The id of the held call's ticket (recorded in `call.held`, whatever the agent was answered)."""
    approval: Grant | None = None
    """Set on a call the gateway runs because people approved it."""
    redaction: Redaction | None = None
    """This call's privacy rules (from its decision's masks) and the secrets seen so far."""
    refused_by: str | None = None
    """The guard that refused this call itself, not through policy (`stop`, `lease`)."""
    signals: dict[str, Any] = field(default_factory=dict)
    """What the guard stages measured, by `SignalsDoc` field: the policy reads them as `input.signals`."""
    watch: CallWatch | None = None
    """Set by the observing stage (`observe.py`): the call's span and its stages' timings."""

    def redacted(self, masker: Masker) -> Redaction:
        """The call's redaction, made from its decision's mask paths on first use."""
        if self.redaction is None:
            paths = list(self.decision.obligations.mask) if self.decision is not None else []
            if self.approval is not None:
                paths += [p for p in self.approval.mask if p not in paths]
            self.redaction = masker.redaction(paths)
        return self.redaction


@dataclass(frozen=True, slots=True)
class Grant:
    """The approval behind a call the gateway runs for an agent: who approved, and the original
    decision's masks, which stay in force at execution."""

    approval_id: str
    approvers: tuple[str, ...]
    mask: tuple[str, ...] = ()
    summary: str = ""
    roles: tuple[frozenset[str], ...] = ()
    """The roles of each approval, in the order of `approvers`."""

    def meets(self, role: str, count: int) -> bool:
        """Whether the approvals include `count` approvers holding `role`."""
        return sum(role in roles for roles in self.roles) >= count


Proceed = Callable[[Call], Awaitable[Result]]


class Stage(Protocol):
    """One step of the pipeline: do its part, then `proceed` to the rest (or answer itself)."""

    async def __call__(self, call: Call, proceed: Proceed) -> Result: ...
