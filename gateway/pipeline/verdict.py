"""The answer to a call the gateway did not run (refused, held, denied, expired, failed).

Every such answer carries the decision document (`effect`, `reasons`, `decision_id`, and for a
held call `status`, `approval_id`, `poll`) in one documented place, `_meta["rollgate/decision"]`,
and says in its text what happened and what to do next. It is also the `structuredContent`, but
only when the tool declares no `outputSchema`.

Why: MCP 2025-11-25 (server/tools, "Output Schema") has servers that declare an `outputSchema`
return structured results that conform to it, and clients validate them. The TypeScript SDK's
`Client.callTool` (1.x, through the Inspector 2.x) validates any `structuredContent` present,
even on `isError: true` results, and throws when it does not match; it accepts an error result
without one (typescript-sdk issue 1943). The Python SDK's `call_tool` validates only results that
are not errors. A decision document cannot conform to a tool's own output schema, so for such a
tool the answer has no `structuredContent` at all, as in the spec's example of a tool execution
error, and every SDK takes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mcp_types as types

from gateway.pipeline.call import Result

DECISION_META = "rollgate/decision"
"""The `_meta` key of the decision in every answer the gateway gives instead of running a call."""


def typed_output(tool: types.Tool | None) -> bool:
    """Whether clients validate this tool's structured results against an `outputSchema`."""
    return tool is not None and tool.output_schema is not None


def verdict(text: str, decision: Mapping[str, Any], *, typed: bool) -> Result:
    """An `isError` result that tells `text` and carries `decision`; `typed` says that the tool
    declares an `outputSchema`, which the decision would not conform to."""
    document = dict(decision)
    result: Result = {"content": [{"type": "text", "text": text}], "_meta": {DECISION_META: document}, "isError": True}
    if not typed:
        result["structuredContent"] = document
    return result


def decision_in(result: Result) -> dict[str, Any] | None:
    """The decision an answer of the gateway carries, or None for a tool's own result."""
    meta = result.get("_meta")
    decision = meta.get(DECISION_META) if isinstance(meta, Mapping) else None
    return dict(decision) if isinstance(decision, Mapping) else None
