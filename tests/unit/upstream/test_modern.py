"""A link answering a 2026-07-28 upstream's input requests for a handshake-era client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from gateway.upstream.modern import MAX_INPUT_ROUNDS, InputRoundsExceeded, answer_inline

pytestmark = pytest.mark.anyio

ASK = {"method": "elicitation/create", "params": {"message": "name?", "requestedSchema": {"type": "object"}}}


def needs(state: str, **requests: Any) -> dict[str, Any]:
    return {"resultType": "input_required", "inputRequests": requests, "requestState": state}


async def test_each_round_asks_the_client_and_retries_with_its_answers_and_the_state() -> None:
    sent: list[Mapping[str, Any]] = []
    asked: list[str] = []
    replies = iter([needs("s2", again=ASK), {"content": [], "resultType": "complete"}])

    async def send(params: Mapping[str, Any]) -> dict[str, Any]:
        sent.append(params)
        return next(replies)

    async def ask(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        asked.append(method)
        return {"action": "accept", "content": {"name": f"n{len(asked)}"}}

    first = needs("s1", name=ASK)
    result = await answer_inline({"name": "t", "arguments": {}}, first, send, ask)
    assert result["resultType"] == "complete"
    assert asked == ["elicitation/create", "elicitation/create"]
    assert sent[0]["inputResponses"] == {"name": {"action": "accept", "content": {"name": "n1"}}}
    assert sent[0]["requestState"] == "s1" and sent[1]["requestState"] == "s2"
    assert set(sent[1]["inputResponses"]) == {"again"}  # only this round's answers go back


async def test_a_request_the_client_cannot_answer_is_left_out_and_the_upstream_decides() -> None:
    sent: list[Mapping[str, Any]] = []

    async def send(params: Mapping[str, Any]) -> dict[str, Any]:
        sent.append(params)
        return {"content": [], "isError": True}

    async def ask(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        raise MCPError(code=types.INVALID_REQUEST, message="no elicitation here")

    result = await answer_inline({"name": "t"}, needs("s", name=ASK), send, ask)
    assert result["isError"] and "inputResponses" not in sent[0] and sent[0]["requestState"] == "s"


async def test_an_upstream_that_never_stops_asking_is_an_error_after_the_round_limit() -> None:
    count = 0

    async def send(params: Mapping[str, Any]) -> dict[str, Any]:
        nonlocal count
        count += 1
        return needs(f"s{count}", name=ASK)

    async def ask(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"action": "decline"}

    with pytest.raises(InputRoundsExceeded):
        await answer_inline({"name": "t"}, needs("s0", name=ASK), send, ask)
    assert count == MAX_INPUT_ROUNDS


async def test_a_final_result_passes_through_untouched() -> None:
    async def never(params: Mapping[str, Any]) -> dict[str, Any]:
        raise AssertionError("nothing to retry")

    final = {"content": [{"type": "text", "text": "hi"}]}
    assert await answer_inline({}, final, never, never) is final  # type: ignore[arg-type]
