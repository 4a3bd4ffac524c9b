"""Stage 8: forward the call to its upstream over the session's long-lived link.

The last guard: only a call whose decision is `allow` (or an approval's) goes out; anything else
is refused here, whichever stages ran before. Upstream progress is streamed to the downstream
request that made the call; the upstream's own result is returned untouched. A 2026-07-28
client's answers to an upstream's `input_required` (its `inputResponses` and the upstream's
`requestState`, unsealed by the downstream edge) go with the retried call.
"""

from __future__ import annotations

from typing import Any

from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.decide import refusal
from gateway.policy import Effect
from gateway.policy.interpret import deny


class Forward:
    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        if call.decision is None or call.decision.effect is not Effect.ALLOW:
            if call.decision is None:
                return refusal(deny("", "no policy decision was made for this call: not forwarded"), call.definition)
            return refusal(call.decision, call.definition)
        assert call.tool is not None
        link = await call.links(call.tool.upstream)
        params: dict[str, Any] = {"name": call.tool.name, "arguments": dict(call.context.arguments)}
        if call.context.meta:
            params["_meta"] = dict(call.context.meta)
        if (answers := call.input_round) is not None:  # a 2026-07-28 client's answers to the upstream
            if answers.responses:
                params["inputResponses"] = dict(answers.responses)
            if answers.state is not None:
                params["requestState"] = answers.state
        # A 2026-07-28 request declares its capabilities itself: the upstream sees the client's, not
        # the gateway's, so it asks only for what the client can answer (SEP-2575, SEP-2322).
        return await link.request("tools/call", params, call.progress, capabilities=call.capabilities)
