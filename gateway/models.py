"""The shared vocabulary of the pipeline: who calls, what they call, in which workflow.

These are frozen value objects built at the downstream edge and handed through every stage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

META_WORKFLOW = "rollgate/workflow"
META_STEP = "rollgate/step"
META_IDEMPOTENCY_KEY = "rollgate/idempotency_key"
META_CONFIDENCE = "rollgate/confidence"

ProgressSink = Callable[[float, float | None, str | None], Awaitable[None]]
"""Where upstream progress for one call goes: the downstream request that made the call."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated agent (or the local stdio client)."""

    id: str
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ToolRef:
    """A tool as it really runs: the upstream server and the upstream's own tool name."""

    upstream: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.upstream}/{self.name}"


@dataclass(frozen=True, slots=True)
class CallContext:
    """One `tools/call` as it enters the pipeline."""

    principal: Principal
    requested_name: str
    arguments: Mapping[str, Any]
    workflow_id: str
    step: str | None
    correlation_id: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    session_key: str | None = None
    compensation: bool = False
    internal: bool = False
    """A call the gateway makes itself (a compensation or verification read during a rollback)."""


def result_data(result: Mapping[str, Any]) -> Any:
    """A tool result (`CallToolResult` as a dict) as data: its structured content, else its text."""
    if result.get("structuredContent") is not None:
        return result["structuredContent"]
    texts = [block.get("text") for block in result.get("content", []) if block.get("type") == "text"]
    return "\n".join(t for t in texts if t) or None
