"""The breaker stages in the pipeline, with the default policy: an upstream that keeps failing is
refused without being called, naming it, its failures and `retry_after`; a probe after the
cool-down closes it; a tool's error answers trip only that agent's breaker of that tool; the
gateway's own refusals count as nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
import yaml

from gateway.clock import FixedClock
from gateway.config import NamespaceConfig
from gateway.errors import UpstreamError
from gateway.guards.breakers import Breakers
from gateway.manifests import ManifestRegistry
from gateway.models import CallContext, Principal
from gateway.pipeline import Call, Pipeline, Stages
from gateway.pipeline.verdict import DECISION_META
from gateway.policy import PolicyService, RegorusEngine
from gateway.upstream.catalog import Catalog, UpstreamListing
from gateway.workflows import WorkflowBook
from tests.conftest import DEFAULT_POLICIES

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}
MANIFESTS = [
    {"server": "*", "tool": "read", "reversibility": "read_only", "impact": "low"},
    {"server": "*", "tool": "forbidden", "reversibility": "irreversible", "impact": "critical"},
]


class Link:
    """An upstream that fails (`down`), answers errors (`erring`), or works."""

    def __init__(self) -> None:
        self.down = False
        self.erring = False
        self.calls = 0

    async def request(self, method: str, params: Any, progress: Any = None, **_: Any) -> dict[str, Any]:
        self.calls += 1
        if self.down:
            raise UpstreamError("upstream 'up' is unavailable: the pipe is closed")
        return {"content": [{"type": "text", "text": "no"}], "isError": True} if self.erring else {"content": []}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 4, 12, tzinfo=UTC))


@pytest.fixture
async def setup(tmp_path: Path, clock: FixedClock) -> tuple[Pipeline, dict[str, Link]]:
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({"version": 1, "tools": MANIFESTS}))
    registry = ManifestRegistry.load(tmp_path)
    tools = [types.Tool(name=name, input_schema=SCHEMA) for name in ("read", "forbidden")]
    catalog = Catalog(NamespaceConfig(), {"up": UpstreamListing(tools=tools), "other": UpstreamListing(tools=tools)})
    policy = PolicyService(RegorusEngine(), DEFAULT_POLICIES, "data.rollgate.policy.decision")
    await policy.load()
    breakers = (Breakers(3, 30.0, clock), Breakers(2, 30.0, clock))
    stages = Stages(lambda: catalog, lambda: registry, lambda: policy, WorkflowBook(), breakers=breakers)
    return stages.pipeline(), {"up": Link(), "other": Link()}


async def call(setup: tuple[Pipeline, dict[str, Link]], name: str = "up__read", agent: str = "ada") -> dict[str, Any]:
    pipeline, links = setup

    async def link_of(upstream: str) -> Any:
        return links[upstream]

    context = CallContext(Principal(agent), name, {"n": 1}, f"wf-{agent}", None, "c", {})
    return await pipeline.call(Call(context=context, links=link_of))


async def fail(setup: tuple[Pipeline, dict[str, Link]], times: int) -> None:
    for _ in range(times):
        with pytest.raises(UpstreamError):
            await call(setup)


async def test_an_upstream_that_keeps_failing_is_refused_without_being_called(setup: Any) -> None:
    _, links = setup
    links["up"].down = True
    await fail(setup, 3)
    result = await call(setup)
    assert links["up"].calls == 3  # the fourth call never reached it
    decision = result["_meta"][DECISION_META]
    assert result["isError"] and decision["effect"] == "deny"
    assert "upstream up is open after 3 consecutive failures" in decision["reasons"][0]
    assert decision["retry_after"] == pytest.approx(30.0)
    assert "may succeed after 30 s" in result["content"][0]["text"]


async def test_another_upstream_keeps_serving_while_one_is_open(setup: Any) -> None:
    _, links = setup
    links["up"].down = True
    await fail(setup, 3)
    assert "isError" not in await call(setup, "other__read")


async def test_a_probe_after_the_cool_down_closes_the_breaker(setup: Any, clock: FixedClock) -> None:
    _, links = setup
    links["up"].down = True
    await fail(setup, 3)
    clock.advance(30)
    links["up"].down = False
    assert "isError" not in await call(setup)  # the probe
    assert "isError" not in await call(setup) and links["up"].calls == 5


async def test_a_failed_probe_opens_it_again(setup: Any, clock: FixedClock) -> None:
    _, links = setup
    links["up"].down = True
    await fail(setup, 3)
    clock.advance(30)
    await fail(setup, 1)
    refused = await call(setup)
    assert refused["_meta"][DECISION_META]["retry_after"] == pytest.approx(30.0) and links["up"].calls == 4


async def test_a_tools_error_answers_trip_only_that_agents_breaker(setup: Any) -> None:
    _, links = setup
    links["up"].erring = True
    await call(setup)
    await call(setup)
    refused = await call(setup)
    assert "your calls of tool up/read" in refused["_meta"][DECISION_META]["reasons"][0]
    assert links["up"].calls == 2
    links["up"].erring = False
    assert "isError" not in await call(setup, agent="bob")  # another agent is not stopped
    assert "isError" not in await call(setup, "other__read")  # nor the upstream, nor other tools


async def test_the_gateways_own_refusals_count_as_nothing(setup: Any) -> None:
    _, links = setup
    for _ in range(5):
        refused = await call(setup, "up__forbidden")
        assert "breaker" not in refused["_meta"][DECISION_META]["reasons"][0]
    assert links["up"].calls == 0
