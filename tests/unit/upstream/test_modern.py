"""A link answering a 2026-07-28 upstream's input requests for a handshake-era client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from gateway.errors import InputRoundsExceeded
from gateway.upstream.modern import MAX_INPUT_ROUNDS, answer_inline, mutual_modern, negotiate

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


def test_the_newest_shared_stateless_revision_is_picked_from_a_servers_list() -> None:
    assert mutual_modern(["2025-11-25", "2026-07-28"]) == "2026-07-28"
    assert mutual_modern(["2025-11-25"]) is None
    assert mutual_modern("2026-07-28") is None  # not a list


class FakeSession:
    """The negotiation surface of `ClientSession`: discover, initialize, adopt."""

    def __init__(self, discover: list[Any], initialize: Any) -> None:
        self._discover, self._initialize = discover, initialize
        self.discovered_at: list[str] = []
        self.protocol_version: str | None = None
        self.initialized = False

    async def send_discover(self, version: str) -> dict[str, Any]:
        self.discovered_at.append(version)
        answer = self._discover.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def initialize(self) -> Any:
        self.initialized = True
        if isinstance(self._initialize, Exception):
            raise self._initialize
        self.protocol_version = "2025-11-25"
        return types.InitializeResult(
            protocol_version="2025-11-25",
            capabilities=types.ServerCapabilities(),
            server_info=types.Implementation(name="s", version="1"),
        )

    def adopt(self, result: types.DiscoverResult) -> None:
        self.protocol_version = mutual_modern(result.supported_versions)


def discovered(*versions: str) -> dict[str, Any]:
    return {
        "supportedVersions": list(versions),
        "capabilities": {},
        "resultType": "complete",
        "ttlMs": 0,
        "cacheScope": "private",
    }


def refused(*supported: str) -> MCPError:
    return MCPError(code=types.UNSUPPORTED_PROTOCOL_VERSION, message="no", data={"supported": list(supported)})


async def test_an_upstream_that_answers_discover_is_spoken_to_statelessly_without_a_handshake() -> None:
    session = FakeSession([discovered("2025-11-25", "2026-07-28")], None)
    assert await negotiate(session) == "2026-07-28"  # type: ignore[arg-type]
    assert not session.initialized


async def test_an_upstream_that_does_not_know_discover_gets_the_handshake() -> None:
    session = FakeSession([MCPError(code=types.METHOD_NOT_FOUND, message="no such method")], None)
    assert await negotiate(session) == "2025-11-25"  # type: ignore[arg-type]
    assert session.initialized


async def test_an_upstream_advertising_only_handshake_versions_in_discover_gets_the_handshake() -> None:
    session = FakeSession([discovered("2025-11-25")], None)
    assert await negotiate(session) == "2025-11-25"  # type: ignore[arg-type]


async def test_a_refused_discover_naming_no_shared_version_gets_the_handshake() -> None:
    session = FakeSession([refused("1999-01-01")], None)
    assert await negotiate(session) == "2025-11-25"  # type: ignore[arg-type]
    assert session.discovered_at == ["2026-07-28"]


async def test_a_refused_handshake_naming_a_stateless_version_is_adopted_by_discover() -> None:
    session = FakeSession(
        [MCPError(code=types.METHOD_NOT_FOUND, message="?"), discovered("2026-07-28")], refused("2026-07-28")
    )
    assert await negotiate(session) == "2026-07-28"  # type: ignore[arg-type]
    assert session.initialized
