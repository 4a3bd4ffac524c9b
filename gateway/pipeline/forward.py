"""Stage 8: forward the call to its upstream over the session's long-lived link.

Upstream progress is streamed to the downstream request that made the call. The upstream's own
tool result (content, structured content, isError) is returned untouched.
"""

from __future__ import annotations

from typing import Any

from gateway.pipeline.call import Call, Proceed, Result


class Forward:
    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        assert call.tool is not None
        link = await call.links(call.tool.upstream)
        params: dict[str, Any] = {"name": call.tool.name, "arguments": dict(call.context.arguments)}
        if call.context.meta:
            params["_meta"] = dict(call.context.meta)
        return await link.request("tools/call", params, call.progress)
