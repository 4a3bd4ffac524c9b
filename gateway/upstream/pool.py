"""All upstream links: one control link per upstream, and one link set per downstream session.

The control links are opened at start-up: they build the aggregated catalogue, watch for
`list_changed`, and serve clients that have no session of their own (the stateless 2026-07-28
envelope). `serve` starts them in the foreground: every first attempt ends before it listens, and
a name collision is a start-up error. `stdio` starts them in the background, so a client's
`initialize` never waits for an upstream: each upstream joins the catalogue when it connects
(clients hear `list_changed`), a call to one that has not joined fails naming it and its state,
and an upstream whose names collide with the catalogue's when it joins is refused and stopped.

Each stateful downstream session gets links of its own, opened on its first call to an upstream
and closed with the session, so that one client's server-to-client traffic can never reach
another client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import anyio
import mcp_types as types
from anyio.abc import TaskGroup

from gateway.config import NamespaceConfig, UpstreamConfig
from gateway.errors import CatalogError, LimitError, UpstreamError
from gateway.upstream.catalog import Catalog, Pinning
from gateway.upstream.gates import ALL, Capability
from gateway.upstream.link import Relay, UpstreamLink
from gateway.upstream.relay import NullRelay

logger = logging.getLogger(__name__)

CatalogChanged = Callable[[str], None]
"""Called with the list_changed notification method after the catalogue was rebuilt."""

UpstreamRefused = Callable[[str, str], None]
"""Called with (upstream, reason) when a late upstream is refused (its names collide)."""


class LinkSet:
    """The links of one downstream session, opened lazily, closed together."""

    def __init__(
        self,
        pool: UpstreamPool,
        relay: Relay,
        *,
        client_answers_input: bool = False,
        owner: str | None = None,
        capabilities: frozenset[Capability] | None = None,
    ) -> None:
        self._pool = pool
        self.relay = relay
        self.capabilities = capabilities
        """What the session's client declared; its links declare the same upstream (None: the
        shared links, which declare every capability and serve clients that each bring their own)."""
        self._owner = owner
        """The principal whose session these links serve (counted against its limit)."""
        self._answers_input = not client_answers_input
        self._links: dict[str, UpstreamLink] = {}
        self._lock = anyio.Lock()

    async def get(self, upstream: str) -> UpstreamLink:
        return self._links.get(upstream) or await self._open(upstream, stateless=False)

    async def twin(self, upstream: str) -> UpstreamLink | None:
        """The session's stateless link to a dual-era `upstream`, for a tool it lists to stateless
        clients only (None when the upstream speaks the handshake alone)."""
        control = self._pool.control.get(upstream)
        if control is None or not control.stateless:
            return None
        return self._links.get(_twin_key(upstream)) or await self._open(upstream, stateless=True)

    async def _open(self, upstream: str, *, stateless: bool) -> UpstreamLink:
        key = _twin_key(upstream) if stateless else upstream
        async with self._lock:
            if (link := self._links.get(key)) is None:
                self._pool.take_link(self._owner)
                try:
                    link = UpstreamLink(
                        self._pool.config_of(upstream),
                        self.relay,
                        self._pool.session_listing_changed,
                        answers_input=self._answers_input,
                        capabilities=ALL if self.capabilities is None else self.capabilities,
                        lists=False,
                        # A handshake-era client's link keeps the handshake with dual-era upstreams.
                        newest=stateless or not self._answers_input,
                        twin=None if stateless else _TwinOf(self, upstream),
                    )
                    await self._pool.task_group.start(link.run)
                except BaseException:
                    self._pool.give_back_link(self._owner)
                    raise
                self._links[key] = link
        return link

    async def aclose(self) -> None:
        links, self._links = list(self._links.values()), {}
        with anyio.CancelScope(shield=True):
            for link in links:
                self._pool.give_back_link(self._owner)
                await link.stop()


def _twin_key(upstream: str) -> str:
    return f"{upstream}\0stateless"


class _TwinOf:
    def __init__(self, links: LinkSet, upstream: str) -> None:
        self._links, self._upstream = links, upstream

    async def link(self) -> UpstreamLink | None:
        return await self._links.twin(self._upstream)


class UpstreamPool:
    def __init__(
        self,
        configs: Sequence[UpstreamConfig],
        namespace: NamespaceConfig,
        task_group: TaskGroup,
        max_links_per_principal: int | None = None,
        pinning: Pinning | None = None,
    ) -> None:
        self._configs = {config.name: config for config in configs}
        self._pinning = pinning
        self._max_links = max_links_per_principal
        self._links_of: dict[str, int] = {}
        self._namespace = namespace
        self.task_group = task_group
        self.control: dict[str, UpstreamLink] = {}
        self.catalog = Catalog(namespace, {}, pinning)
        self._listeners: list[CatalogChanged] = []
        self._refusal_listeners: list[UpstreamRefused] = []
        self.shared = LinkSet(self, NullRelay(), client_answers_input=True)
        self.joined: set[str] = set()
        """The upstreams whose listing is in the catalogue."""
        self.refused: dict[str, str] = {}
        """Upstreams kept out of the catalogue, with the reason (a name collision when they joined)."""
        self._attempted: set[str] = set()
        self._all_attempted = anyio.Event()
        self._started_at = 0.0

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

    def on_upstream_refused(self, listener: UpstreamRefused) -> None:
        self._refusal_listeners.append(listener)

    async def start(self, *, background: bool = False) -> None:
        """Open every control link. In the foreground, return once every first attempt ended, with
        the catalogue built (a name collision raises CatalogError); in the background, at once."""
        self._started_at = anyio.current_time()
        self.shared._links = self.control  # stateless clients share the control links
        for config in self._configs.values():
            link = UpstreamLink(config, NullRelay(), self.listing_changed)
            self.control[config.name] = link
            if background:
                self.task_group.start_soon(self._join_when_connected, link)
                continue
            await self.task_group.start(link.run)
            self._first_attempt_ended(link)
        if not background:
            listings = {name: link.listing for name, link in self.control.items()}
            self.catalog = Catalog(self._namespace, listings, self._pinning)
            self.joined = set(self.control)

    async def _join_when_connected(self, link: UpstreamLink) -> None:
        await self.task_group.start(link.run)
        self._first_attempt_ended(link)
        if link.last_error is None:
            self.listing_changed(link, "notifications/tools/list_changed")
        # otherwise the link joins on its first successful restart, which reports a listing change

    def _first_attempt_ended(self, link: UpstreamLink) -> None:
        if link.last_error:
            logger.warning("upstream %r is not available yet: %s", link.name, link.last_error)
        self._attempted.add(link.name)
        if len(self._attempted) == len(self._configs):
            self._all_attempted.set()

    async def first_attempts(self, within: float) -> None:
        """Wait until every upstream's first connection attempt ended, but no later than `within`
        seconds after start: a fast upstream is in a listing asked for right after `initialize`,
        and a hung one holds it up only that long."""
        remaining = self._started_at + within - anyio.current_time()
        if remaining > 0 and not self._all_attempted.is_set() and self._configs:
            with anyio.move_on_after(remaining):
                await self._all_attempted.wait()

    def why_unlisted(self, exposed: str) -> str | None:
        """Why `exposed` may be missing from the catalogue: the upstreams that could offer it
        and have not joined (still connecting, failing to connect, or refused); None if none."""
        absent = [name for name in self._configs if name not in self.joined]
        if self._namespace.mode != "none":
            absent = [name for name in absent if exposed.startswith(name + self._namespace.separator)]
        return "; ".join(self._state_of(name) for name in absent) or None

    def _state_of(self, upstream: str) -> str:
        if (reason := self.refused.get(upstream)) is not None:
            return f"upstream {upstream!r} was refused: {reason}"
        link = self.control.get(upstream)
        if link is not None and link.last_error and upstream in self._attempted:
            return f"upstream {upstream!r} failed to connect ({link.last_error}) and is retrying"
        return f"upstream {upstream!r} is still connecting"

    def states(self) -> list[tuple[str, str, str, int, str | None]]:
        """(name, transport, state, tools, error) of each configured upstream, for the status view:
        serving (joined, last connection up), connecting, failing (retrying after an error), refused."""
        found: list[tuple[str, str, str, int, str | None]] = []
        for name, config in self._configs.items():
            link = self.control.get(name)
            tools = len(link.listing.tools) if link is not None else 0
            error = link.last_error if link is not None else None
            if name in self.refused:
                state, error = "refused", self.refused[name]
            elif error and name in self._attempted:
                state = "failing"
            elif name in self.joined:
                state = "serving"
            else:
                state = "connecting"
            found.append((name, config.kind, state, tools, error))
        return found

    def offered(self) -> dict[str, list[types.Tool]]:
        return {name: list(link.listing.tools) for name, link in self.control.items()}

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for link in self.control.values():
                await link.stop()

    def session_listing_changed(self, link: UpstreamLink, method: str) -> None:
        """A session's link relisted its upstream (its own process: a stdio upstream's tools may
        differ per process): its listing joins the catalogue, with the gated tools its client was
        not offered and the gates of the control link kept."""
        control = self.control.get(link.name)
        if control is not None and control.listing.gates:
            listing, gates = link.listing, control.listing.gates
            names = {tool.name for tool in listing.tools}
            listing.tools += [t for t in control.listing.tools if t.name in gates and t.name not in names]
            listing.gates = dict(gates)
        self.listing_changed(link, method)

    def listing_changed(self, link: UpstreamLink, method: str) -> None:
        """An upstream said its listing changed (on any link), or a control link connected for the
        first time: rebuild the catalogue, tell every client."""
        joining = link.name not in self.joined
        if joining and (link.name in self.refused or self.control.get(link.name) is not link):
            return  # only a control link joins its upstream, and a refused one never does
        try:
            self.catalog = self.catalog.with_listing(link.name, link.listing)
        except CatalogError as exc:
            if joining:
                self._refuse(link, str(exc))
            else:
                logger.error("ignored a listing change of %r: %s", link.name, exc)
            return
        methods = [method]
        if joining:
            self.joined.add(link.name)
            logger.info("upstream %r joined the catalogue", link.name)
            listing = link.listing
            methods = ["notifications/tools/list_changed"]
            methods += ["notifications/prompts/list_changed"] if listing.prompts else []
            methods += ["notifications/resources/list_changed"] if listing.resources or listing.templates else []
        for listener in self._listeners:
            for changed in methods:
                listener(changed)

    def revet(self) -> None:
        """Vet the catalogue again (an operator accepted a tool definition): the accepted
        definition is listed from now on, and every client hears that the tool list changed."""
        self.catalog = self.catalog.revetted()
        for listener in self._listeners:
            listener("notifications/tools/list_changed")

    def _refuse(self, link: UpstreamLink, reason: str) -> None:
        self.refused[link.name] = reason
        logger.error("upstream %r is refused and stopped: %s", link.name, reason)
        self.task_group.start_soon(link.stop)
        for listener in self._refusal_listeners:
            listener(link.name, reason)
