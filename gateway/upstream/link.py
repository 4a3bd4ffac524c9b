"""One long-lived MCP client session to one upstream server, restarted with backoff when it dies.

A link is opened once (per downstream session, or once for the whole gateway) and reused by every
call: nothing on the per-call path builds a client, an SSL context or a session. When the upstream
crashes, calls in flight fail with a clear `UpstreamError`, and a stdio upstream is started again
with exponential backoff while the other upstreams keep serving.

Server-to-client traffic from the upstream (sampling, elicitation, roots, logging) is handed to a
`Relay`, which delivers it to the downstream client session that owns the link. A link declares
to its upstream the capabilities of its owner (a downstream session's link: what that client
declared; a control link: all of them), so a server never offers or asks what the client cannot.

A control link speaks the newest revision both sides support (`modern.negotiate`), lists the
upstream for the catalogue and finds its capability gates (`gates.py`); a handshake-era session's
link keeps the handshake with a dual-era upstream and reaches the tools its session is not offered
through a stateless twin.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

import anyio
import httpx2
import mcp_types as types
from mcp.client.session import ClientRequestContext, ClientSession, IncomingMessage
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

from gateway.config import UpstreamConfig
from gateway.errors import NotSent, OutcomeUnknownError, UpstreamError, WireTimeout
from gateway.models import ProgressSink
from gateway.upstream import modern
from gateway.upstream.catalog import UpstreamListing
from gateway.upstream.gates import ALL, Capability, Gate, advertised, probe_gates
from gateway.upstream.wire import StdioWire, stdio_wire

logger = logging.getLogger(__name__)

CLIENT_INFO = types.Implementation(name="rollgate", version="0.1.0")


class Relay(Protocol):
    """The downstream side of a link: where the upstream's own requests and notices go."""

    async def request(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]: ...

    async def notify(self, method: str, params: Mapping[str, Any] | None) -> None: ...


class _WatchedDispatcher(JSONRPCDispatcher[Any]):
    """A dispatcher that tells the link when its connection is gone (EOF, crash, reset)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended = anyio.Event()

    async def run(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().run(*args, **kwargs)
        finally:
            self.ended.set()


ListChanged = Callable[["UpstreamLink", str], None]
"""Called with (the link, notification method) when an upstream's listing changes."""


class Twin(Protocol):
    """Where a handshake-era session's link finds its stateless twin (see `modern`)."""

    async def link(self) -> UpstreamLink | None:
        """The twin, when the upstream speaks a stateless revision (None for a handshake-only one)."""
        ...


class UpstreamLink:
    """A supervised client session to one upstream."""

    def __init__(
        self,
        config: UpstreamConfig,
        relay: Relay,
        on_list_changed: ListChanged | None = None,
        *,
        answers_input: bool = False,
        capabilities: frozenset[Capability] = ALL,
        lists: bool = True,
        newest: bool = True,
        twin: Twin | None = None,
    ) -> None:
        self.config = config
        self._relay = relay
        self._answers_input = answers_input
        """The owner is a handshake-era client session: the link answers a 2026-07-28 upstream's
        `input_required` rounds by asking that client (see `gateway.upstream.modern`)."""
        self._capabilities = capabilities
        self._lists = lists
        """A control link: it lists the upstream at connect and finds its capability gates (a
        session link lists it only when it changes, in what that session's client is offered)."""
        self._newest = newest
        """Negotiate the newest revision (else the handshake first: see `modern.negotiate`)."""
        self._twin = twin
        """This link's stateless twin, for the tools its own session is not offered."""
        self._own: set[str] | None = None
        self._log_level: str | None = "debug" if answers_input else None
        """The log level stamped on stateless requests (2026-07-28 logging is opt-in per request):
        a handshake-era owner hears every log, as from a handshake-era server, until it sets one."""
        self._on_list_changed = on_list_changed
        self._session: ClientSession | None = None
        self._dispatcher: _WatchedDispatcher | None = None
        self._wire: StdioWire | None = None
        self._headers: dict[str, str] = {}
        self._ready = anyio.Event()
        self._stop = anyio.Event()
        self._stopped = anyio.Event()
        self.listing = UpstreamListing()
        self.last_error: str | None = None
        self.restarts = 0

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def stateless(self) -> bool:
        """The link speaks a stateless revision (2026-07-28) with its upstream."""
        return self._session is not None and modern.is_modern(self._session)

    @property
    def capabilities(self) -> types.ServerCapabilities | None:
        return self._session.server_capabilities if self._session is not None else None

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep the session up until `stop()`; reports started once the first attempt ends."""
        backoff = self.config.restart_backoff_seconds
        started = False
        try:
            while not self._stop.is_set():
                on_ready: Callable[[], None] = (lambda: None) if started else task_status.started
                connected = await self._serve_once(on_ready)
                if not started:
                    started = True
                    if not connected:
                        task_status.started()
                if self._stop.is_set():
                    break
                backoff = self.config.restart_backoff_seconds if connected else backoff
                logger.warning("upstream %r is down (%s); restarting in %.1fs", self.name, self.last_error, backoff)
                with anyio.move_on_after(backoff):
                    await self._stop.wait()
                backoff = min(backoff * 2, self.config.restart_backoff_max_seconds)
                self.restarts += 1
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        self._stop.set()
        await self._stopped.wait()

    async def _serve_once(self, on_ready: Callable[[], None]) -> bool:
        connected = False
        try:
            async with AsyncExitStack() as stack:
                read, write, wire = await stack.enter_async_context(self._transport())
                dispatcher = _WatchedDispatcher(read, write)
                session = self._client_session(dispatcher, self._capabilities)
                await stack.enter_async_context(session)
                with anyio.fail_after(self.config.connect_timeout_seconds):
                    version = await modern.negotiate(session, newest=self._newest)
                    changes = (
                        await stack.enter_async_context(modern.list_changes(session))
                        if modern.is_modern(session)
                        else None
                    )
                    if self._lists:
                        self.listing = await fetch_listing(session)
                self._headers = {MCP_PROTOCOL_VERSION_HEADER: version}
                self._session, self._dispatcher, self._wire = session, dispatcher, wire
                if self._lists:
                    self.listing.gates = await self._gates(self.listing)
                connected = True
                self.last_error = None
                self._ready.set()
                on_ready()
                if self.restarts and self._on_list_changed is not None:
                    if not self._lists:  # a session's link has no listing until it fetches one: an
                        # empty one would take its upstream out of the catalogue of every client
                        with anyio.fail_after(self.config.connect_timeout_seconds):
                            self.listing = await fetch_listing(session)
                    self._on_list_changed(self, "notifications/tools/list_changed")
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_set_when, self._stop, dispatcher.ended)
                    if changes is not None:
                        tg.start_soon(modern.follow, changes, self._list_changed)
                    await dispatcher.ended.wait()
                    tg.cancel_scope.cancel()
                self.last_error = "connection closed" if not self._stop.is_set() else None
        except (OSError, MCPError, TimeoutError, httpx2.HTTPError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # top of the supervisor task: log, stay down, retry later
            logger.exception("upstream %r failed", self.name)
            self.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            self._session = self._dispatcher = self._wire = None
            self._ready = anyio.Event()
        return connected

    def _transport(self) -> AbstractAsyncContextManager[tuple[Any, Any, StdioWire | None]]:
        """The session's (read, write) streams, and the raw wire beside them for a stdio upstream."""
        cfg = self.config
        if cfg.kind == "stdio":
            assert cfg.command is not None
            # "python" means the gateway's own interpreter, so examples run inside its virtualenv.
            command = sys.executable if cfg.command in ("python", "python3") else cfg.command
            params = StdioServerParameters(command=command, args=cfg.args, env=cfg.env or None, cwd=cfg.cwd)
            return stdio_wire(params, errlog=sys.stderr)
        assert cfg.url is not None
        if cfg.kind == "sse":
            return _without_wire(sse_client(cfg.url, headers=cfg.headers or None))
        return _without_wire(_http_transport(cfg))

    # -- calls -------------------------------------------------------------------------------

    async def _ready_session(self) -> tuple[ClientSession, _WatchedDispatcher]:
        if self._session is None or self._dispatcher is None:
            with anyio.move_on_after(self.config.connect_timeout_seconds):
                await self._ready.wait()
        if self._session is None or self._dispatcher is None:
            detail = f": {self.last_error}" if self.last_error else ""
            raise UpstreamError(f"upstream {self.name!r} is unavailable{detail}")
        return self._session, self._dispatcher

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        progress: ProgressSink | None = None,
        *,
        capabilities: frozenset[Capability] | None = None,
    ) -> dict[str, Any]:
        """Forward one request as raw JSON-RPC params and return the raw result.

        The params were validated at the downstream edge already; going straight to the wire
        (stdio) or the dispatcher (HTTP, SSE) skips re-building and re-validating pydantic models
        on the hot path. `capabilities` overrides what a stateless request declares (the gate probe).
        """
        session, dispatcher = await self._ready_session()
        stateless = modern.is_modern(session)
        if not stateless and self._twin is not None and method == "tools/call":
            name = (params or {}).get("name")
            if name not in await self._own_tools(session) and (twin := await self._twin.link()) is not None:
                return await twin.request(method, params, progress, capabilities=capabilities)
        timeout = self.config.timeout_seconds
        wire = self._wire
        if stateless and method == "logging/setLevel":
            # 2026-07-28 has no session to set a level on: later requests carry it instead.
            self._log_level = (params or {}).get("level", self._log_level)
            return {}
        try:
            if not stateless and wire is not None:
                return await self._over_wire(wire, method, params, progress)

            async def send(params: Mapping[str, Any] | None) -> dict[str, Any]:
                opts: dict[str, Any] = {"headers": dict(self._headers)}
                declared = advertised(capabilities) if capabilities is not None else None
                params = modern.stamped(session, method, params, opts, self._log_level, declared)  # type: ignore[arg-type]
                if wire is not None:  # stdio: the envelope is in the params, headers are HTTP's
                    return await self._over_wire(wire, method, params, progress)
                if progress is not None:
                    opts["on_progress"] = progress
                return await dispatcher.send_raw_request(method, params, opts)  # type: ignore[arg-type]

            # A bare cancel scope with a deadline, not move_on_after: the same timeout, without a
            # generator context manager and backend look-ups on every call (~4% of the profile).
            with anyio.CancelScope(deadline=anyio.current_time() + timeout):
                result = await send(params)
                if stateless and self._answers_input:
                    result = await modern.answer_inline(params or {}, result, send, self._relay.request)
                    result.pop("resultType", None)  # the owner speaks a handshake-era revision
                return result
        except MCPError as exc:
            if exc.error.code == types.CONNECTION_CLOSED:
                raise OutcomeUnknownError(
                    f"upstream {self.name!r} closed the connection during {method}: its outcome is unknown"
                ) from None
            raise
        # Only the deadline ends the scope without an answer (an outer cancellation propagates).
        raise self._no_answer(method)

    async def _over_wire(
        self, wire: StdioWire, method: str, params: Mapping[str, Any] | None, progress: ProgressSink | None
    ) -> dict[str, Any]:
        """A raw request on the stdio pipe: no answer in time is an unknown outcome; a request that
        never left (the pipe was closed) cannot have run."""
        try:
            return await wire.request(method, params, progress, self.config.timeout_seconds)
        except WireTimeout:
            raise self._no_answer(method) from None
        except NotSent as exc:
            raise UpstreamError(f"upstream {self.name!r} is unavailable: {exc}") from None

    def _no_answer(self, method: str) -> OutcomeUnknownError:
        return OutcomeUnknownError(
            f"upstream {self.name!r} did not answer {method} within {self.config.timeout_seconds:g}s: "
            "its outcome is unknown"
        )

    # -- server-to-client traffic ---------------------------------------------------------

    async def _on_sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        raw = await self._relay_request("sampling/createMessage", params)
        if isinstance(raw, types.ErrorData):
            return raw
        if "toolUse" in str(raw.get("content")) or isinstance(raw.get("content"), list):
            return types.CreateMessageResultWithTools.model_validate(raw)
        return types.CreateMessageResult.model_validate(raw)

    async def _on_elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        raw = await self._relay_request("elicitation/create", params)
        return raw if isinstance(raw, types.ErrorData) else types.ElicitResult.model_validate(raw)

    async def _on_roots(self, context: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        raw = await self._relay_request("roots/list", None)
        return raw if isinstance(raw, types.ErrorData) else types.ListRootsResult.model_validate(raw)

    async def _relay_request(self, method: str, params: Any) -> dict[str, Any] | types.ErrorData:
        dumped = params.model_dump(by_alias=True, mode="json", exclude_none=True) if params is not None else None
        try:
            return await self._relay.request(method, dumped)
        except MCPError as exc:
            return exc.error

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, Exception):
            logger.debug("upstream %r transport error: %s", self.name, message)
            return
        method = message.method
        if method == "notifications/progress":
            return  # reaches the client through the request's own progress callback, with the client's token
        if method.endswith("/list_changed"):
            await self._list_changed(method)
            return
        params = message.params.model_dump(by_alias=True, mode="json", exclude_none=True) if message.params else None
        await self._relay.notify(method, params)

    async def _list_changed(self, method: str) -> None:
        if self._session is None:
            return  # still connecting: the listing is fetched once the handshake is done
        self._own = None
        listing = await fetch_listing(self._session)
        if self._lists:
            listing.gates = await self._gates(listing, self.listing)
        self.listing = listing
        if self._on_list_changed is not None:
            self._on_list_changed(self, method)

    async def _own_tools(self, session: ClientSession) -> set[str]:
        """The tools this link's own session is offered (read once, again after a list change)."""
        if self._own is None:
            self._own = {tool.name for tool in await _all_pages(session.list_tools, "tools")}
        return self._own

    # -- capability gates -------------------------------------------------------------------

    def _client_session(self, dispatcher: JSONRPCDispatcher[Any], capabilities: frozenset[Capability]) -> ClientSession:
        """A client session declaring `capabilities` (the SDK declares one per callback given)."""
        return ClientSession(
            dispatcher=dispatcher,
            sampling_callback=self._on_sampling if "sampling" in capabilities else None,
            elicitation_callback=self._on_elicitation if "elicitation" in capabilities else None,
            list_roots_callback=self._on_roots if "roots" in capabilities else None,
            message_handler=self._on_message,
            client_info=CLIENT_INFO,
        )

    async def _gates(self, listing: UpstreamListing, before: UpstreamListing | None = None) -> dict[str, Gate]:
        """The capability gates of `listing`'s tools; the earlier ones when no tool is new. A probe
        that fails leaves the tools ungated (offered to all, as before gates), and is logged."""
        names = {tool.name for tool in listing.tools}
        if before is not None and names <= {tool.name for tool in before.tools}:
            return {name: gate for name, gate in before.gates.items() if name in names}
        session = self._session
        if session is None:
            return {}
        try:
            with anyio.fail_after(self.config.connect_timeout_seconds * 4):
                if modern.is_modern(session):
                    return await probe_gates(names, lambda caps: self._names_stateless(session, caps))
                return await probe_gates(names, self._names_on_new_session)
        except (OSError, MCPError, TimeoutError, httpx2.HTTPError) as exc:
            logger.warning("upstream %r: capability gates not found (%s); all its tools are offered", self.name, exc)
            return {}

    async def _names_stateless(self, session: ClientSession, capabilities: frozenset[Capability]) -> set[str]:
        """Tool names listed to a stateless request declaring `capabilities`."""
        names: set[str] = set()
        cursor: str | None = None
        for _ in range(1000):
            page = await self.request("tools/list", {"cursor": cursor} if cursor else None, capabilities=capabilities)
            names |= {tool["name"] for tool in page.get("tools", []) if isinstance(tool, Mapping)}
            cursor = page.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
        return names

    async def _names_on_new_session(self, capabilities: frozenset[Capability]) -> set[str]:
        """Tool names listed to a new handshake session declaring `capabilities` (opened, asked, closed)."""
        try:
            async with AsyncExitStack() as stack:
                read, write, _ = await stack.enter_async_context(self._transport())
                session = self._client_session(JSONRPCDispatcher(read, write), capabilities)
                await stack.enter_async_context(session)
                with anyio.fail_after(self.config.connect_timeout_seconds):
                    await session.initialize()
                    return {tool.name for tool in await _all_pages(session.list_tools, "tools")}
        except ExceptionGroup as group:  # the transport's task groups wrap what went wrong
            raise _first_leaf(group) from None


def _first_leaf(group: BaseExceptionGroup[Exception]) -> Exception:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


async def _set_when(target: anyio.Event, source: anyio.Event) -> None:
    """Wakes the serve loop (waiting on `source`) when the link is asked to stop (`target`)."""
    await target.wait()
    source.set()


@asynccontextmanager
async def _without_wire(transport: AbstractAsyncContextManager[Any]) -> AsyncIterator[tuple[Any, Any, None]]:
    async with transport as (read, write):
        yield read, write, None


@asynccontextmanager
async def _http_transport(cfg: UpstreamConfig) -> AsyncIterator[Any]:
    # A short keep-alive expiry on our side: an idle pooled connection is dropped before the
    # upstream's server closes it, so a reused connection is never one the server just closed.
    limits = httpx2.Limits(keepalive_expiry=cfg.http_keepalive_seconds)
    timeout = httpx2.Timeout(cfg.connect_timeout_seconds, read=max(cfg.timeout_seconds, 300.0))
    async with httpx2.AsyncClient(headers=cfg.headers, limits=limits, timeout=timeout) as client:
        assert cfg.url is not None
        async with streamable_http_client(cfg.url, http_client=client) as streams:
            yield streams


async def fetch_listing(session: ClientSession) -> UpstreamListing:
    """Everything an upstream offers, following pagination, for the capabilities it declares."""
    caps = session.server_capabilities or types.ServerCapabilities()
    listing = UpstreamListing()
    if caps.tools is not None:
        listing.tools = await _all_pages(session.list_tools, "tools")
    if caps.prompts is not None:
        listing.prompts = await _all_pages(session.list_prompts, "prompts")
    if caps.resources is not None:
        listing.resources = await _all_pages(session.list_resources, "resources")
        listing.templates = await _all_pages(session.list_resource_templates, "resource_templates")
    return listing


async def _all_pages(method: Callable[..., Any], attribute: str) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await method(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        items.extend(getattr(page, attribute))
        cursor = page.next_cursor
        if not cursor:
            break
    return items
