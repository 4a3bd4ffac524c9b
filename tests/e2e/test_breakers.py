"""Circuit breakers over streamable HTTP with the SDK client, in both eras: an upstream that keeps
crashing opens its breaker and is not called at all while a second upstream keeps serving; after
the cool-down a probe call closes it again. A tool that keeps answering errors stops only the
agent that hammers it."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
import yaml
from mcp.shared.exceptions import MCPError

from tests.conftest import DEFAULT_POLICIES, OTHER_TOKEN, TOKEN, probe_upstream
from tests.e2e.helpers import decision_of, http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

BREAKERS = "[guards.breakers]\nfailures = 2\ncooldown_seconds = 2\ntool_failures = 3\n"
MODES = ["legacy", "2026-07-28"]


def read_only_probe_tools(tmp_path: Path) -> Path:
    """Manifests declaring the probe's tools harmless, so that the default policy allows them."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    tools = [
        {"server": "*", "tool": t, "reversibility": "read_only", "impact": "low"}
        for t in ("echo", "crash", "fail", "touch")
    ]
    (folder / "probe.yaml").write_text(yaml.safe_dump({"version": 1, "tools": tools}))
    return folder


@pytest.mark.parametrize("mode", MODES)
async def test_a_crashing_upstream_opens_its_breaker_while_another_keeps_serving(start_gateway, tmp_path, mode) -> None:
    upstreams = probe_upstream("flaky") + probe_upstream("steady", env='{PROBE_SCHEME = "steady"}')
    gateway = start_gateway(
        upstreams, policies=DEFAULT_POLICIES, manifests=read_only_probe_tools(tmp_path), extra=BREAKERS
    )
    mark = tmp_path / "touched"
    async with http_client(gateway.url, TOKEN, mode=mode) as client:
        for _ in range(2):
            with anyio.fail_after(30), pytest.raises(MCPError, match="upstream 'flaky'"):
                await client.call_tool("flaky__crash", {})
        with anyio.fail_after(5):
            refused = await client.call_tool("flaky__touch", {"path": str(mark), "count": 1})
        served = await client.call_tool("steady__echo", {"text": "still here"})
        decision = decision_of(refused)
        assert refused.is_error and not mark.exists()  # the open upstream was not called at all
        assert "upstream flaky is open after 2 consecutive failures" in decision["reasons"][0]
        assert 0 < decision["retry_after"] <= 2 and "may succeed after" in text_of(refused)
        assert not served.is_error and text_of(served) == "still here"

        await anyio.sleep(decision["retry_after"])
        with anyio.fail_after(30):
            probe = await client.call_tool("flaky__echo", {"text": "probe"})  # half-open: the probe
        assert not probe.is_error and text_of(probe) == "probe"
        closed = await client.call_tool("flaky__touch", {"path": str(mark), "count": 2})
    assert not closed.is_error and mark.read_text() == "2\n"


@pytest.mark.parametrize("mode", MODES)
async def test_a_tool_that_keeps_failing_stops_only_the_agent_hammering_it(start_gateway, tmp_path, mode) -> None:
    gateway = start_gateway(
        probe_upstream(), policies=DEFAULT_POLICIES, manifests=read_only_probe_tools(tmp_path), extra=BREAKERS
    )
    async with (
        http_client(gateway.url, TOKEN, mode=mode) as agent,
        http_client(gateway.url, OTHER_TOKEN, mode=mode) as other,
    ):
        answers = [await agent.call_tool("probe__fail", {"message": "no such account"}) for _ in range(3)]
        assert all(a.is_error and "Error executing tool fail" in text_of(a) for a in answers)
        stopped = await agent.call_tool("probe__fail", {"message": "no such account"})
        assert "your calls of tool probe/fail" in decision_of(stopped)["reasons"][0]
        assert not (await agent.call_tool("probe__echo", {"text": "other tools"})).is_error
        theirs = await other.call_tool("probe__fail", {"message": "theirs"})
    assert theirs.is_error and "Error executing tool fail" in text_of(theirs)  # the tool's own answer


async def test_a_compensation_that_keeps_failing_is_escalated_instead_of_sent_again(start_gateway, tmp_path) -> None:
    """kv_undo fails every time: two rollbacks send it and fail; the third escalates its step at
    once (a ticket, the workflow quarantined) without sending it."""
    from tests.e2e.test_rollback import KV_MANIFESTS

    store = tmp_path / "kv.json"
    extra = "[guards.breakers]\ncompensation_failures = 2\n"
    gateway = start_gateway(probe_upstream(), policies=DEFAULT_POLICIES, manifests=KV_MANIFESTS, extra=extra)
    reports = []
    async with http_client(gateway.url, TOKEN) as client:
        workflows = []
        for key in ("a", "b", "c"):  # all done before the first rollback quarantines the agent
            workflow = (await client.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
            arguments = {"path": str(store), "key": key, "value": "1", "undo_failures": 100, "undo_delay": 0}
            assert not (
                await client.call_tool("probe__kv_set", arguments, meta={"rollgate/workflow": workflow})
            ).is_error
            workflows.append(workflow)
        for workflow in workflows:
            reports.append((await client.call_tool("rollgate_rollback", {"workflow_id": workflow})).structured_content)
    assert Path(str(store) + ".attempts").read_text() == "2"  # the third was never sent
    assert [r["status"] for r in reports] == ["quarantined"] * 3
    assert "answered an error" in reports[1]["failed"][0]["error"]
    third = reports[2]["failed"][0]
    assert "circuit breaker is open" in third["error"] and "escalated to a person" in third["error"]
    assert third["ticket"]  # the manual-remediation item in the approval queue
