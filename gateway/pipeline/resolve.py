"""Stage 1: resolve the exposed tool name to the upstream tool that will actually run.

Everything after this stage (validation, policy, ledger) sees the resolved upstream tool, never the
spelling the client sent; a name that the catalogue does not list exactly is refused here.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.errors import UnknownToolError
from gateway.pipeline.call import Call, Proceed, Result
from gateway.upstream.catalog import Catalog


class Resolve:
    def __init__(self, catalog: Callable[[], Catalog]) -> None:
        self._catalog = catalog

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        found = self._catalog().resolve_tool(call.context.requested_name)
        if found is None:
            raise UnknownToolError(f"unknown tool {call.context.requested_name!r}")
        call.tool, call.definition = found
        return await proceed(call)
