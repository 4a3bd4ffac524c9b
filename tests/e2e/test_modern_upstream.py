"""An upstream that speaks only the stateless 2026-07-28 revision, behind the gateway, in front of
clients of both eras: the link adopts `server/discover`, answers the upstream's `input_required`
rounds for handshake-era clients, and follows its list changes on `subscriptions/listen` (tested
with the other list-change tests in test_proxy_http.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import MODERN_ONLY as MODERN_ONLY_SERVER
from tests.conftest import PYTHON, TOKEN, free_port, modern_only_upstream, stop, wait_for_port
from tests.e2e.helpers import Recorder, http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

MODERN_ONLY = modern_only_upstream()


@pytest.fixture
def modern_http_upstream() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, MODERN_ONLY_SERVER, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port, process)
    yield f'[[upstreams]]\nname = "probe"\nurl = "http://127.0.0.1:{port}/mcp"\n'
    stop(process)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_clients_of_either_era_list_and_call_the_tools_of_a_2026_only_upstream(start_gateway, mode: str) -> None:
    gateway = start_gateway(MODERN_ONLY)
    async with http_client(gateway.url, TOKEN, mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        echoed = await client.call_tool("probe__echo", {"text": "hi"})
        rich = await client.call_tool("probe__rich", {})
        failed = await client.call_tool("probe__fail", {"message": "boom"})
    assert {"probe__echo", "probe__rich", "probe__ask_user"} <= names
    assert text_of(echoed) == "hi" and not echoed.is_error
    assert [block.type for block in rich.content] == ["text", "image", "audio", "resource"]
    assert failed.is_error  # the SDK server words the error itself at 2026-07-28


async def test_progress_of_a_2026_only_upstream_reaches_a_handshake_era_client(start_gateway) -> None:
    gateway = start_gateway(MODERN_ONLY)
    seen: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    async with http_client(gateway.url, TOKEN) as client:
        result = await client.call_tool(
            "probe__progress_and_log", {"tag": "m", "steps": 3}, progress_callback=on_progress
        )
    assert text_of(result) == "m:done"
    assert seen == ["m:1", "m:2", "m:3"]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_2026_only_upstream_that_asks_the_user_is_answered_by_the_calling_client(
    start_gateway, mode: str
) -> None:
    """Legacy client: the gateway turns the upstream's input_required into an elicitation request
    to the client and retries. 2026 client: it gets the input_required and retries itself."""
    gateway = start_gateway(MODERN_ONLY)
    recorder = Recorder("ada")
    async with http_client(gateway.url, TOKEN, recorder, mode=mode) as client:
        answered = await client.call_tool("probe__ask_user", {"tag": "t1"})
    assert recorder.elicited == ["name for t1?"]
    assert text_of(answered) == "accept:ada"


async def test_a_2026_only_upstream_over_streamable_http_is_spoken_to_in_its_revision(
    start_gateway, modern_http_upstream: str
) -> None:
    gateway = start_gateway(modern_http_upstream)
    recorder = Recorder("bo")
    async with http_client(gateway.url, TOKEN, recorder) as client:
        echoed = await client.call_tool("probe__echo", {"text": "over http"})
        answered = await client.call_tool("probe__ask_user", {"tag": "h"})
    assert text_of(echoed) == "over http"
    assert text_of(answered) == "accept:bo" and recorder.elicited == ["name for h?"]
