"""Stage 1: resolve the exposed tool name to the upstream tool that will actually run, and its manifest.

Everything after this stage (validation, policy, ledger) sees the resolved upstream tool, never the
spelling the client sent; a name that the catalogue does not list exactly, to a client of the
caller's capabilities, is refused here (naming the upstream that could offer it when that one has
not joined the catalogue yet: still connecting, failing to connect, or refused). The manifest is
looked up by the resolved upstream server and tool name. A tool whose definition changed since
it was pinned, and is not accepted yet, is marked `definition_changed` for the policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.errors import UnknownToolError, UpstreamError
from gateway.manifests import ManifestRegistry
from gateway.pipeline.call import Call, Proceed, Result
from gateway.upstream.catalog import Catalog

Unlisted = Callable[[str], Awaitable[str | None]]
"""Why an exposed name may be missing: the upstreams that could offer it and have not joined
(after waiting, briefly, for upstreams still on their first connection attempt)."""


class Resolve:
    def __init__(
        self,
        catalog: Callable[[], Catalog],
        manifests: Callable[[], ManifestRegistry],
        unlisted: Unlisted | None = None,
    ) -> None:
        self._catalog = catalog
        self._manifests = manifests
        self._unlisted = unlisted

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        name = call.context.requested_name
        catalog = self._catalog()
        found = catalog.resolve_tool(name, call.capabilities)
        if found is None and self._unlisted is not None:
            why = await self._unlisted(name)
            catalog = self._catalog()
            found = catalog.resolve_tool(name, call.capabilities)
            if found is None and why is not None:
                raise UpstreamError(f"tool {name!r} is not available: {why}")
        if found is None:
            raise UnknownToolError(f"unknown tool {name!r}")
        call.tool, call.definition = found
        call.definition_changed = catalog.held(name)
        call.manifest = self._manifests().resolve(call.tool.upstream, call.definition, call.tool.name)
        return await proceed(call)
