"""All upstream links: one control link per upstream, and one link set per downstream session.

The control links are opened at start-up: they build the aggregated catalogue (so a name
collision is a start-up error), watch for `list_changed`, and serve clients that have no session
of their own (the stateless 2026-07-28 envelope). Each stateful downstream session gets links of
its own, opened on its first call to an upstream and closed with the session, so that one
client's server-to-client traffic can never reach another client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import anyio
import mcp_types as types
from anyio.abc import TaskGroup

from gateway.config import NamespaceConfig, UpstreamConfig
from gateway.errors import CatalogError, LimitError, UpstreamError
from gateway.upstream.catalog import Catalog
from gateway.upstream.link import Relay, UpstreamLink
from gateway.upstream.relay import NullRelay

logger = logging.getLogger(__name__)

CatalogChanged = Callable[[str], None]
"""Called with the list_changed notification method after the catalogue was rebuilt."""


class LinkSet:
    """The links of one downstream session, opened lazily, closed together."""

    def __init__(
        self, pool: UpstreamPool, relay: Relay, *, client_answers_input: bool = False, owner: str | None = None
    ) -> None:
        self._pool = pool
        self.relay = relay
        self._owner = owner
        """The principal whose session these links serve (counted against its limit)."""
        self._answers_input = not client_answers_input
        self._links: dict[str, UpstreamLink] = {}
        self._lock = anyio.Lock()

    async def get(self, upstream: str) -> UpstreamLink:
        link = self._links.get(upstream)
        if link is not None:
            return link
        async with self._lock:
            if (link := self._links.get(upstream)) is None:
                self._pool.take_link(self._owner)
                try:
                    link = UpstreamLink(
                        self._pool.config_of(upstream),
                        self.relay,
                        self._pool.listing_changed,
                        answers_input=self._answers_input,
                    )
                    await self._pool.task_group.start(link.run)
                except BaseException:
                    self._pool.give_back_link(self._owner)
                    raise
                self._links[upstream] = link
        return link

    async def aclose(self) -> None:
        links, self._links = list(self._links.values()), {}
        with anyio.CancelScope(shield=True):
            for link in links:
                self._pool.give_back_link(self._owner)
                await link.stop()


class UpstreamPool:
    def __init__(
        self,
        configs: Sequence[UpstreamConfig],
        namespace: NamespaceConfig,
        task_group: TaskGroup,
        max_links_per_principal: int | None = None,
    ) -> None:
        self._configs = {config.name: config for config in configs}
        self._max_links = max_links_per_principal
        self._links_of: dict[str, int] = {}
        self._namespace = namespace
        self.task_group = task_group
        self.control: dict[str, UpstreamLink] = {}
        self.catalog = Catalog(namespace, {})
        self._listeners: list[CatalogChanged] = []
        self.shared = LinkSet(self, NullRelay(), client_answers_input=True)

    def config_of(self, upstream: str) -> UpstreamConfig:
        try:
            return self._configs[upstream]
        except KeyError:
            raise UpstreamError(f"no upstream named {upstream!r}") from None

    def take_link(self, owner: str | None) -> None:
        """Count a new session link of `owner`; LimitError past `limits.max_upstream_links_per_principal`."""
        if owner is None:
            return
        held = self._links_of.get(owner, 0)
        if self._max_links is not None and held >= self._max_links:
            raise LimitError(
                f"principal {owner} has {held} upstream connections open (limits.max_upstream_links_per_principal); "
                "close a session (DELETE) or wait until an idle one is closed"
            )
        self._links_of[owner] = held + 1

    def give_back_link(self, owner: str | None) -> None:
        if owner is not None:
            self._links_of[owner] = max(0, self._links_of.get(owner, 0) - 1)

    def on_catalog_changed(self, listener: CatalogChanged) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        """Open every control link and build the catalogue; a name collision raises CatalogError."""
        for config in self._configs.values():
            link = UpstreamLink(config, NullRelay(), self.listing_changed)
            self.control[config.name] = link
            await self.task_group.start(link.run)
            if link.last_error:
                logger.warning("upstream %r is not available yet: %s", config.name, link.last_error)
        self.catalog = Catalog(self._namespace, {name: link.listing for name, link in self.control.items()})
        self.shared._links = dict(self.control)  # stateless clients share the control links

    def offered(self) -> dict[str, list[types.Tool]]:
        return {name: list(link.listing.tools) for name, link in self.control.items()}

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for link in self.control.values():
                await link.stop()

    def listing_changed(self, link: UpstreamLink, method: str) -> None:
        """An upstream said its listing changed (on any link): rebuild the catalogue, tell every client."""
        try:
            self.catalog = self.catalog.with_listing(link.name, link.listing)
        except CatalogError as exc:
            logger.error("ignored a listing change of %r: %s", link.name, exc)
            return
        for listener in self._listeners:
            listener(method)
