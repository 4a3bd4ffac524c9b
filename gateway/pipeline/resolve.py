"""Stage 1: resolve the exposed tool name to the upstream tool that will actually run, and its manifest.

Everything after this stage (validation, policy, ledger) sees the resolved upstream tool, never the
spelling the client sent; a name that the catalogue does not list exactly is refused here. The
manifest is looked up by the resolved upstream server and tool name.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.errors import UnknownToolError
from gateway.manifests import ManifestRegistry
from gateway.pipeline.call import Call, Proceed, Result
from gateway.upstream.catalog import Catalog


class Resolve:
    def __init__(self, catalog: Callable[[], Catalog], manifests: Callable[[], ManifestRegistry]) -> None:
        self._catalog = catalog
        self._manifests = manifests

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        found = self._catalog().resolve_tool(call.context.requested_name)
        if found is None:
            raise UnknownToolError(f"unknown tool {call.context.requested_name!r}")
        call.tool, call.definition = found
        call.manifest = self._manifests().resolve(call.tool.upstream, call.definition, call.tool.name)
        return await proceed(call)
