"""The lease stages in the pipeline: a second workflow's mutation of a key another workflow's call
is mutating waits for it or is refused (naming the key, never the other workflow), the same
workflow re-enters, and the lease is given back however the call ends."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
import yaml

from gateway.config import LeasesConfig, NamespaceConfig
from gateway.errors import UpstreamError
from gateway.guards.leases import Leases
from gateway.manifests import ManifestRegistry
from gateway.models import CallContext, Principal
from gateway.pipeline import Call, Pipeline, Stages
from gateway.pipeline.call import Grant
from gateway.pipeline.verdict import DECISION_META
from gateway.policy import PolicyService, RegorusEngine
from gateway.upstream.catalog import Catalog, UpstreamListing
from gateway.workflows import WorkflowBook
from tests.conftest import DEFAULT_POLICIES

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"account": {"type": "string"}}}
MOVE = {
    "server": "*",
    "tool": "move",
    "reversibility": "reversible",
    "impact": "low",
    "blast_radius": ["account:{args.account}", "receipt:{result.id}"],
}


class Link:
    """An upstream whose calls stay in flight until the test lets them answer."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.release = anyio.Event()
        self.fail = False

    async def request(self, method: str, params: Any, progress: Any = None, **_: Any) -> dict[str, Any]:
        if params["name"] == "peek":  # the snapshot read: what has been finished so far
            return {"content": [], "structuredContent": {"finished": list(self.finished)}}
        tag = params["_meta"]["tag"]
        self.started.append(tag)
        await self.release.wait()
        self.finished.append(tag)
        if self.fail:
            raise UpstreamError("upstream 'up' is unavailable")
        return {"content": []}


async def pipeline(tmp_path: Path, leases: Leases, book: WorkflowBook | None = None, **manifest: Any) -> Pipeline:
    (tmp_path / "m.yaml").write_text(yaml.safe_dump({"version": 1, "tools": [MOVE | manifest]}))
    registry = ManifestRegistry.load(tmp_path)
    catalog = Catalog(NamespaceConfig(), {"up": UpstreamListing(tools=[types.Tool(name="move", input_schema=SCHEMA)])})
    policy = PolicyService(RegorusEngine(), DEFAULT_POLICIES, "data.rollgate.policy.decision")
    await policy.load()
    settings = LeasesConfig(mode="wait", wait_seconds=5)
    book = book or WorkflowBook()
    return Stages(lambda: catalog, lambda: registry, lambda: policy, book, leases=(leases, settings)).pipeline()


async def move(
    pipeline: Pipeline,
    link: Link,
    workflow: str,
    tag: str,
    account: str = "42",
    seen: list[Any] | None = None,
    approval: Grant | None = None,
) -> dict[str, Any]:
    async def links(upstream: str) -> Any:
        return link

    context = CallContext(
        Principal(f"agent-{workflow}"), "up__move", {"account": account}, workflow, None, tag, {"tag": tag}
    )
    call = Call(context=context, links=links, approval=approval)
    result = await pipeline.call(call)
    if seen is not None:
        seen.append(call.snapshot)
    return result


async def test_a_second_workflow_waits_for_the_first_and_never_interleaves(tmp_path: Path) -> None:
    leases, link = Leases(), Link()
    stages = await pipeline(tmp_path, leases)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(move, stages, link, "wf-a", "first")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(move, stages, link, "wf-b", "second")
            await anyio.wait_all_tasks_blocked()
            assert link.started == ["first"]  # the second waits for the lease
            link.release.set()
    assert link.started == ["first", "second"] and link.finished == ["first", "second"]
    assert leases.state() == []


async def test_a_call_that_waited_reads_its_before_image_again(tmp_path: Path) -> None:
    leases, link, seen = Leases(), Link(), []
    stages = await pipeline(tmp_path, leases, snapshot={"tool": "peek", "args": {"account": "{args.account}"}})
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(move, stages, link, "wf-a", "first")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(move, stages, link, "wf-b", "second", "42", seen)
            await anyio.wait_all_tasks_blocked()
            link.release.set()
    assert seen == [{"finished": ["first"]}]  # not the image read before the first call finished


async def test_refuse_mode_names_the_key_and_not_the_other_workflow(tmp_path: Path) -> None:
    leases, link, book = Leases(), Link(), WorkflowBook()
    stages = await pipeline(tmp_path, leases, book, lease={"mode": "refuse"})
    refused: list[dict[str, Any]] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(move, stages, link, "wf-secret-a", "first")
            await anyio.wait_all_tasks_blocked()
            refused.append(await move(stages, link, "wf-b", "second"))
            link.release.set()
    [result] = refused
    assert result["isError"] and link.started == ["first"]
    text = result["content"][0]["text"]
    assert "another workflow holds a lease on account:42" in text and "wf-secret-a" not in str(result)
    assert result["_meta"][DECISION_META]["lease"] == {"key": "account:42", "waited_seconds": 0.0}
    assert book.view("wf-b").mutations == 0 and book.view("wf-secret-a").mutations == 1  # refused: not counted


async def test_an_approved_call_waits_even_where_others_are_refused(tmp_path: Path) -> None:
    leases, link = Leases(), Link()
    stages = await pipeline(tmp_path, leases, lease={"mode": "refuse"})
    grant = Grant("apr_1", ("alice",), summary="approved by alice")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(move, stages, link, "wf-a", "first")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(partial(move, stages, link, "wf-b", "approved", approval=grant))
            await anyio.wait_all_tasks_blocked()
            assert link.started == ["first"]
            link.release.set()
    assert link.finished == ["first", "approved"]


async def test_a_bounded_wait_ends_in_a_refusal(tmp_path: Path) -> None:
    leases, link = Leases(), Link()
    stages = await pipeline(tmp_path, leases, lease={"mode": "wait", "wait_seconds": 0.05})
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(move, stages, link, "wf-a", "first")
            await anyio.wait_all_tasks_blocked()
            result = await move(stages, link, "wf-b", "second")
            link.release.set()
    assert result["isError"] and "after waiting" in result["content"][0]["text"]
    assert link.started == ["first"]


async def test_the_same_workflow_re_enters_its_own_lease(tmp_path: Path) -> None:
    leases, link = Leases(), Link()
    stages = await pipeline(tmp_path, leases, lease={"mode": "refuse"})
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(move, stages, link, "wf-a", "first")
            tg.start_soon(move, stages, link, "wf-a", "second")
            await anyio.wait_all_tasks_blocked()
            assert sorted(link.started) == ["first", "second"]
            link.release.set()
    assert leases.state() == []


async def test_other_keys_do_not_wait(tmp_path: Path) -> None:
    leases, link = Leases(), Link()
    stages = await pipeline(tmp_path, leases, lease={"mode": "refuse"})
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(move, stages, link, "wf-a", "first", "1")
            tg.start_soon(move, stages, link, "wf-b", "second", "2")
            await anyio.wait_all_tasks_blocked()
            assert sorted(link.started) == ["first", "second"]
            link.release.set()


async def test_the_lease_is_given_back_when_the_call_fails(tmp_path: Path) -> None:
    leases, link = Leases(), Link()
    link.fail = True
    link.release.set()
    stages = await pipeline(tmp_path, leases)
    with pytest.raises(UpstreamError):
        await move(stages, link, "wf-a", "first")
    assert leases.state() == []


async def test_the_lease_is_given_back_when_the_call_is_cancelled(tmp_path: Path) -> None:
    leases, link = Leases(), Link()
    stages = await pipeline(tmp_path, leases)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(move, stages, link, "wf-a", "first")
            await anyio.wait_all_tasks_blocked()
            assert [view.key for view in leases.state()] == ["account:42"]  # the result-only key takes none
            tg.cancel_scope.cancel()
    assert leases.state() == []
