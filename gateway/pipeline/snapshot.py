"""Stage 7: before a mutation, read its before-image with the manifest's snapshot tool.

The before-image is shown to approvers, used by compensation templates (`{snapshot.…}`) and, after
a rollback, compared with the same read again to prove the compensation really restored the state.
When the decision's obligations require a snapshot and it cannot be taken, the call does not run.
The read is ledgered (`call.snapshot`, under the call's correlation id, masked like the call)
before the call's intent: the record shows what the gateway saw before it acted.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.errors import CallError, UpstreamError
from gateway.ledger.events import CallSnapshot
from gateway.ledger.ledger import Ledger
from gateway.ledger.privacy import Masker
from gateway.manifests import render
from gateway.models import result_data
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.decide import refusal
from gateway.policy.interpret import deny

logger = logging.getLogger(__name__)


class Snapshot:
    def __init__(self, ledger: Ledger | None = None, masker: Masker | None = None) -> None:
        self._ledger = ledger
        self._masker = masker

    async def _record(self, call: Call, tool: str, arguments: Any, seen: Any, error: str | None) -> None:
        if self._ledger is None or self._masker is None:
            return
        redaction = call.redacted(self._masker)
        context = call.context
        await self._ledger.append(
            CallSnapshot(
                correlation_id=context.correlation_id,
                principal=context.principal.id,
                workflow=context.workflow_id,
                tool=call.tool.qualified if call.tool else None,
                read=tool,
                arguments=redaction.data(arguments),
                **(
                    {"error": redaction.data(error)}
                    if error
                    else {"snapshot": self._masker.limit(redaction.data(seen))}
                ),
            )
        )

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        refused = await self.take(call)
        return refused if refused is not None else await proceed(call)

    async def take(self, call: Call) -> Result | None:
        """Read the call's before-image into `call.snapshot` (ledgered); the refusal when one is
        required and cannot be taken. Also run again by the lease stage for a call that waited for
        another workflow's call on its resources: the image read before may be stale."""
        spec = call.manifest.manifest.snapshot if call.manifest is not None else None
        if spec is None or call.tool is None or call.context.compensation:
            return None
        arguments: Any = None
        try:
            arguments = render(spec.args, {"args": dict(call.context.arguments)})
            link = await call.links(call.tool.upstream)
            answer = await link.request("tools/call", {"name": spec.tool, "arguments": arguments})
            if answer.get("isError"):
                raise UpstreamError(f"snapshot read {spec.tool} failed: {result_data(answer)}")
            call.snapshot = result_data(answer)
            await self._record(call, spec.tool, arguments, call.snapshot, None)
        except CallError as exc:
            if arguments is not None:
                await self._record(call, spec.tool, arguments, None, exc.message)
            required = call.decision is not None and call.decision.obligations.snapshot_required
            if required:
                return refusal(
                    deny(
                        call.decision.decision_id if call.decision else "",
                        f"the before-image could not be taken, so the call did not run: {exc.message}",
                    ),
                    call.definition,
                )
            logger.warning("snapshot for %s not taken: %s", call.tool.qualified, exc.message)
        return None
