"""Stage 7: before a mutation, read its before-image with the manifest's snapshot tool.

The before-image is shown to approvers, used by compensation templates (`{snapshot.…}`) and, after
a rollback, compared with the same read again to prove the compensation really restored the state.
When the decision's obligations require a snapshot and it cannot be taken, the call does not run.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.errors import CallError, UpstreamError
from gateway.manifests import render
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.decide import refusal
from gateway.policy.interpret import deny

logger = logging.getLogger(__name__)


def result_data(result: Result) -> Any:
    """A tool result as data: its structured content, else its text."""
    if result.get("structuredContent") is not None:
        return result["structuredContent"]
    texts = [block.get("text") for block in result.get("content", []) if block.get("type") == "text"]
    return "\n".join(t for t in texts if t) or None


class Snapshot:
    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        spec = call.manifest.manifest.snapshot if call.manifest is not None else None
        if spec is None or call.tool is None or call.context.compensation:
            return await proceed(call)
        try:
            arguments = render(spec.args, {"args": dict(call.context.arguments)})
            link = await call.links(call.tool.upstream)
            answer = await link.request("tools/call", {"name": spec.tool, "arguments": arguments})
            if answer.get("isError"):
                raise UpstreamError(f"snapshot read {spec.tool} failed: {result_data(answer)}")
            call.snapshot = result_data(answer)
        except CallError as exc:
            required = call.decision is not None and call.decision.obligations.snapshot_required
            if required:
                return refusal(
                    deny(
                        call.decision.decision_id if call.decision else "",
                        f"the before-image could not be taken, so the call did not run: {exc.message}",
                    )
                )
            logger.warning("snapshot for %s not taken: %s", call.tool.qualified, exc.message)
        return await proceed(call)
