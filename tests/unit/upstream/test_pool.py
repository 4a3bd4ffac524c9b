"""The pool's background start: upstreams join the catalogue as they connect, a colliding one is refused."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest

from gateway.config import NamespaceConfig, UpstreamConfig
from gateway.upstream.catalog import UpstreamListing
from gateway.upstream.pool import UpstreamPool

pytestmark = pytest.mark.anyio


class ConnectedLink:
    """Stands for a control link whose connection attempt just succeeded with `tools`."""

    def __init__(self, name: str, *tools: str) -> None:
        self.name = name
        self.listing = UpstreamListing(tools=[types.Tool(name=t, input_schema={"type": "object"}) for t in tools])
        self.stopped = False
        self.last_error: str | None = None

    async def stop(self) -> None:
        self.stopped = True


def pool_of(tg: Any, *names: str, mode: str = "prefix") -> UpstreamPool:
    configs = [UpstreamConfig(name=name, command="true") for name in names]
    return UpstreamPool(configs, NamespaceConfig(mode=mode), tg)  # type: ignore[arg-type]


async def test_a_connecting_upstream_joins_the_catalogue_and_every_client_hears_of_it() -> None:
    heard: list[str] = []
    async with anyio.create_task_group() as tg:
        pool = pool_of(tg, "crm", "bank")
        pool.on_catalog_changed(heard.append)
        link = ConnectedLink("crm", "create")
        pool.control["crm"] = link  # type: ignore[assignment]
        assert pool.why_unlisted("crm__create") == "upstream 'crm' is still connecting"
        pool.listing_changed(link, "notifications/tools/list_changed")  # type: ignore[arg-type]
        assert pool.catalog.resolve_tool("crm__create") is not None and pool.why_unlisted("crm__create") is None
        assert pool.why_unlisted("bank__pay") == "upstream 'bank' is still connecting"
    assert heard == ["notifications/tools/list_changed"] and pool.joined == {"crm"}


async def test_a_late_upstream_whose_names_collide_is_refused_stopped_and_reported() -> None:
    refused: list[tuple[str, str]] = []
    async with anyio.create_task_group() as tg:
        pool = pool_of(tg, "one", "two", mode="none")
        pool.on_upstream_refused(lambda name, reason: refused.append((name, reason)))
        one, two = ConnectedLink("one", "echo"), ConnectedLink("two", "echo", "add")
        pool.control.update({"one": one, "two": two})  # type: ignore[dict-item]
        pool.listing_changed(one, "notifications/tools/list_changed")  # type: ignore[arg-type]
        pool.listing_changed(two, "notifications/tools/list_changed")  # type: ignore[arg-type]
    assert two.stopped and not one.stopped and pool.joined == {"one"}
    ((name, reason),) = refused
    assert name == "two" and "'echo' is offered by both upstream 'one' and 'two'" in reason
    assert pool.catalog.resolve_tool("add") is None
    assert pool.why_unlisted("add") == f"upstream 'two' was refused: {refused[0][1]}"


async def test_first_attempts_waits_no_longer_than_its_bound_after_start() -> None:
    async with anyio.create_task_group() as tg:
        pool = pool_of(tg, "hung")
        pool._started_at = anyio.current_time()
        with anyio.fail_after(2):
            started = anyio.current_time()
            await pool.first_attempts(0.2)
        assert 0.15 <= anyio.current_time() - started < 1.0
        await pool.first_attempts(0.2)  # past the bound: at once
        assert anyio.current_time() - started < 1.0
