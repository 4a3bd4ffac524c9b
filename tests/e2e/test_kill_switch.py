"""The kill switch against a real gateway and two SDK clients: `POST /api/stop` refuses the next
call of every agent within 100 ms of answering, an in-flight call finishes, `resume` restores
them; `rollgate stop --agent A` stops A only; agents can neither stop nor resume (403, ledgered);
a stop outlives a restart."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from tests.conftest import APPROVER_TOKEN, OTHER_TOKEN, TOKEN, probe_upstream, stop
from tests.e2e.helpers import decision_of, http_client, operator_cli, text_of
from tests.e2e.test_approvals import api
from tests.e2e.test_tool_pinning import recorded

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

WITHIN = 0.1
"""Seconds from the REST answer to the refusal of the next call, for every agent (issue 17)."""


async def echo(client: Any, text: str) -> Any:
    return await client.call_tool("probe__echo", {"text": text})


async def test_stop_all_refuses_every_agent_at_once_and_resume_restores_them(start_gateway, tmp_path) -> None:
    gateway = start_gateway(probe_upstream())
    async with (
        http_client(gateway.url, TOKEN, mode="auto") as a,
        http_client(gateway.url, OTHER_TOKEN, mode="auto") as b,
        api(gateway, APPROVER_TOKEN) as operator,
        api(gateway, TOKEN) as agent_rest,
    ):
        assert text_of(await echo(a, "before")) == "before" and text_of(await echo(b, "before")) == "before"
        in_flight: dict[str, Any] = {}
        async with anyio.create_task_group() as tg:

            async def slow() -> None:
                in_flight["result"] = await a.call_tool("probe__sleep", {"seconds": 0.5})

            tg.start_soon(slow)
            await anyio.sleep(0.15)  # forwarded and sleeping upstream when the switch is thrown
            stopped = await operator.post("/api/stop", json={"all": True, "reason": "incident 42"})
            answered = time.monotonic()
            refusals: dict[str, tuple[Any, float]] = {}

            async def next_call(name: str, client: Any) -> None:
                result = await echo(client, "after")
                refusals[name] = (result, time.monotonic() - answered)

            async with anyio.create_task_group() as both:
                both.start_soon(next_call, "a", a)
                both.start_soon(next_call, "b", b)
        assert stopped.status_code == 200 and stopped.json()["changed"] is True
        assert text_of(in_flight["result"]) == "slept"  # the in-flight call finished
        for name, (result, elapsed) in refusals.items():
            assert result.is_error, name
            assert "alice stopped all calls through this gateway" in text_of(result) and "incident 42" in text_of(
                result
            )
            assert decision_of(result)["stopped"]["by"] == "alice"
            assert elapsed < WITHIN, f"agent {name} was refused {elapsed * 1000:.1f} ms after the stop answered"

        assert (await agent_rest.post("/api/resume", json={"all": True})).status_code == 403
        assert (await agent_rest.post("/api/stop", json={"agent": "agent-two", "reason": "x"})).status_code == 403
        assert (await echo(a, "still")).is_error
        state = (await operator.get("/api/stop")).json()
        assert state["all"]["by"] == "alice" and state["all"]["reason"] == "incident 42" and state["principals"] == []
        assert (await operator.post("/api/stop", json={"agent": "nobody", "reason": "typo"})).status_code == 404
        assert (
            await operator.post("/api/stop", json={"all": True, "agent": "agent-one", "reason": "x"})
        ).status_code == 422

        resumed = await operator.post("/api/resume", json={"all": True})
        assert resumed.status_code == 200 and resumed.json()["state"]["all"] is None
        assert text_of(await echo(a, "again")) == "again" and text_of(await echo(b, "again")) == "again"
    events = await recorded(tmp_path / "state", "calls.stopped", "calls.resumed", "operator.refused")
    assert [e for e in events if e["kind"] == "calls.stopped"] == [
        {"kind": "calls.stopped", "by": "alice", "reason": "incident 42", "all": True}
    ]
    assert [e for e in events if e["kind"] == "calls.resumed"] == [
        {"kind": "calls.resumed", "by": "alice", "all": True, "stopped_by": "alice"}
    ]
    refused = [e for e in events if e["kind"] == "operator.refused"]
    assert [(r["principal"], r["action"]) for r in refused] == [("agent-one", "resume"), ("agent-one", "stop")]
    stopped_calls = [e for e in events if e["kind"] == "call.refused" and "incident 42" in str(e.get("decision"))]
    assert sorted(e["principal"] for e in stopped_calls) == ["agent-one", "agent-one", "agent-two"]


async def test_stop_one_agent_from_the_cli_stops_that_agent_only_and_outlives_a_restart(
    start_gateway, tmp_path
) -> None:
    gateway = start_gateway(probe_upstream())
    stopped = operator_cli(gateway, "stop", "--agent", "agent-one", "--reason", "looping")
    assert stopped.returncode == 0, stopped.stderr
    assert "STOPPED agent agent-one's calls: by alice" in stopped.stdout and "(looping)" in stopped.stdout
    async with http_client(gateway.url, TOKEN, mode="auto") as a, http_client(gateway.url, OTHER_TOKEN) as b:
        refused = await echo(a, "x")
        assert refused.is_error and "alice stopped the calls of agent agent-one" in text_of(refused)
        assert text_of(await echo(b, "y")) == "y"
    stop(gateway.process)
    again = start_gateway(probe_upstream())
    async with http_client(again.url, TOKEN, mode="auto") as a, http_client(again.url, OTHER_TOKEN) as b:
        assert (await echo(a, "x")).is_error and text_of(await echo(b, "y")) == "y"
        resumed = operator_cli(again, "resume", "--agent", "agent-one")
        assert resumed.returncode == 0, resumed.stderr
        assert "resumed agent agent-one's calls (stopped by alice" in resumed.stdout
        assert text_of(await echo(a, "x")) == "x"
    unknown = operator_cli(again, "stop", "--agent", "nobody")
    assert unknown.returncode == 1 and "no agent 'nobody'" in unknown.stderr
