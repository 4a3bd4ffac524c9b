"""2026-07-28 stateless `tools/call` on the fast path: served there, answered as the SDK path answers.

The fast path leaves a stateless request that carries an `Mcp-Session-Id` to the SDK (which
ignores the header), so the same request sent with and without one compares the two paths.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TOKEN, probe_upstream
from tests.e2e.helpers import RawSession, Recorder, decision_of, end_user_policies, http_client, text_of
from tests.e2e.test_approvals import demo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

_FAST = re.compile(r"served on the fast path \(stateless 2026-07-28\)")


@pytest.fixture(autouse=True)
def _debug_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLGATE_LOG_LEVEL", "DEBUG")  # the fast path logs each call it serves


async def on_both_paths(session: RawSession, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the fast path's answer, the SDK path's answer) to the same `tools/call`, without their ids."""
    fast = await session.request("tools/call", params)
    session.headers["mcp-session-id"] = "leave-it-to-the-sdk"
    try:
        sdk = await session.request("tools/call", params)
    finally:
        del session.headers["mcp-session-id"]
    return _without_id(fast), _without_id(sdk)


def _without_id(message: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key != "id"}


def fast_calls(gateway: Any) -> int:
    return len(_FAST.findall(gateway.log.read_text()))


def _held(result: dict[str, Any]) -> dict[str, Any]:
    """A held call's answer without what differs from one call to the next (its ids)."""
    decision = decision_of(result)
    return {
        "resultType": result["resultType"],
        "isError": result.get("isError"),
        "status": decision["status"],
        "effect": decision.get("effect"),
        "reasons": decision.get("reasons"),
        "keys": sorted(decision),
    }


async def test_a_2026_call_is_served_on_the_fast_path_with_the_answer_of_the_sdk_path(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    async with httpx.AsyncClient(timeout=30) as http:
        session = RawSession(http, gateway.url, TOKEN, capabilities={})
        added = await on_both_paths(session, {"name": "probe__add", "arguments": {"a": 2, "b": 40}})
        rich = await on_both_paths(session, {"name": "probe__rich", "arguments": {}})
        touch = {"name": "probe__touch", "arguments": {"path": "/nowhere", "count": "x"}}
        invalid = await on_both_paths(session, touch)
        unknown = await on_both_paths(session, {"name": "probe__nothing", "arguments": {}})
    assert added[0] == added[1] and added[0]["result"]["structuredContent"] == {"result": 42}
    assert added[0]["result"]["resultType"] == "complete" and "io.modelcontextprotocol/serverInfo" in str(added[0])
    assert rich[0] == rich[1]
    assert invalid[0] == invalid[1] and invalid[0]["error"]["code"] == -32602 and invalid[0]["error"].get("data")
    assert unknown[0] == unknown[1] and "error" in unknown[0]
    assert fast_calls(gateway) == 4


async def test_the_sdk_clients_2026_calls_take_the_fast_path_with_their_progress(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with http_client(gateway.url, TOKEN, Recorder("one"), mode="2026-07-28") as client:
        added = await client.call_tool("probe__add", {"a": 1, "b": 2})
        stepped = await client.call_tool(
            "probe__progress_and_log", {"tag": "one", "steps": 3}, progress_callback=on_progress
        )
    assert added.structured_content == {"result": 3}
    assert text_of(stepped) == "one:done" and progress == ["one:1", "one:2", "one:3"]
    assert fast_calls(gateway) == 2


async def test_a_held_2026_call_carries_its_decision_in_meta_on_the_fast_path(start_gateway, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.rego").write_text(
        "package rollgate.policy\nimport rego.v1\n"
        'decision := {"effect": "require_approval", "reasons": ["a person decides"]}\n'
    )
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=policies)
    call = {"name": "demo__create_customer", "arguments": {"name": "Ada", "email": "ada@example.com"}}
    async with httpx.AsyncClient(timeout=30) as http:
        session = RawSession(http, gateway.url, TOKEN, capabilities={})
        fast, sdk = await on_both_paths(session, call)
    assert _held(fast["result"]) == _held(sdk["result"])
    assert decision_of(fast["result"])["status"] == "pending"
    assert fast_calls(gateway) == 1


async def test_an_input_required_round_on_the_fast_path_is_sealed_as_on_the_sdk_path(
    start_gateway, tmp_path: Path
) -> None:
    policies = end_user_policies(tmp_path)
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo(db), policies=policies, approvals="wait_seconds = 10")
    yes = {"rollgate/approval": {"action": "accept", "content": {"approve": True}}}
    ada = {"name": "demo__create_customer", "arguments": {"name": "Ada", "email": "ada@example.com"}}
    bob = {"name": "demo__create_customer", "arguments": {"name": "Bob", "email": "bob@example.com"}}
    async with httpx.AsyncClient(timeout=30) as http:
        session = RawSession(http, gateway.url, TOKEN, capabilities={"elicitation": {}})
        asked_fast, asked_sdk = await on_both_paths(session, ada)
        # Round two on the other path: a state sealed on one path opens on the other.
        session.headers["mcp-session-id"] = "leave-it-to-the-sdk"
        ran_on_sdk = await session.request(
            "tools/call", {**ada, "inputResponses": yes, "requestState": asked_fast["result"]["requestState"]}
        )
        del session.headers["mcp-session-id"]
        asked_bob = (await session.request("tools/call", bob))["result"]
        ran_fast = await session.request(
            "tools/call", {**bob, "inputResponses": yes, "requestState": asked_bob["requestState"]}
        )
        forged = await session.request("tools/call", {**bob, "inputResponses": yes, "requestState": "v1.forged"})
    for asked in (asked_fast["result"], asked_sdk["result"]):
        assert asked["resultType"] == "input_required" and asked["requestState"].startswith("v1.")
    assert asked_fast["result"]["inputRequests"] == asked_sdk["result"]["inputRequests"]
    assert ran_on_sdk["result"]["structuredContent"]["name"] == "Ada"
    assert ran_fast["result"]["structuredContent"]["name"] == "Bob" and ran_fast["result"]["resultType"] == "complete"
    assert forged["error"] == {
        "code": -32602,
        "message": "Invalid or expired requestState",
        "data": {"reason": "invalid_request_state"},
    }
    with sqlite3.connect(db) as conn:
        assert sorted(row[0] for row in conn.execute("SELECT name FROM customers")) == ["Ada", "Bob"]
    assert fast_calls(gateway) == 4
