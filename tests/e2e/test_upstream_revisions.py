"""Upstreams in their newest revision, results whole in every revision, and capability gates.

The eras upstream (tests/fixtures/eras_server.py) offers some tools only to stateless 2026-07-28
clients and some only to clients that declared a capability; server-everything and server-memory
(npm, handshake-era only) send results without the 2026-07-28 caching fields.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import ALLOW_ALL, PYTHON, ROOT, TOKEN, free_port, probe_upstream, stop, wait_for_port
from tests.e2e.helpers import Recorder, handshake_session, http_client, text_of
from tests.e2e.test_reference_servers import _server

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ERAS = str(ROOT / "tests" / "fixtures" / "eras_server.py")
MODES = ["legacy", "auto"]
"""The SDK client's handshake mode, and its default (discover: 2026-07-28 with the gateway)."""


def eras_upstream(name: str = "eras") -> str:
    return f'[[upstreams]]\nname = "{name}"\ncommand = "{PYTHON}"\nargs = ["{ERAS}"]\n'


@pytest.fixture
def eras_http_upstream() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, ERAS, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port, process)
    yield f'[[upstreams]]\nname = "eras"\nurl = "http://127.0.0.1:{port}/mcp"\n'
    stop(process)


@asynccontextmanager
async def bare_client(url: str, mode: str, **callbacks: Any) -> AsyncIterator[Client]:
    """An SDK client that declares only the capabilities whose callbacks it is given."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **callbacks) as client,  # type: ignore[arg-type]
    ):
        yield client


def _everything() -> str:
    return f'[[upstreams]]\nname = "ev"\ncommand = "{_server("mcp-server-everything")}"\nargs = ["stdio"]\n'


def _memory(tmp_path: Any) -> str:
    store = tmp_path / "memory.jsonl"
    command = _server("mcp-server-memory")
    return f'[[upstreams]]\nname = "memory"\ncommand = "{command}"\nenv = {{MEMORY_FILE_PATH = "{store}"}}\n'


# -- results whole in the 2026-07-28 revision --------------------------------------------------


async def test_a_2026_client_reads_a_resource_and_a_template_of_server_everything(start_gateway) -> None:
    gateway = start_gateway(_everything())
    async with http_client(gateway.url, TOKEN, mode="auto") as client:
        assert client.session.protocol_version == "2026-07-28"
        resource = (await client.list_resources()).resources[0]
        template = (await client.list_resource_templates()).resource_templates[0]
        read = await client.read_resource(str(resource.uri))
        uri = template.uri_template.replace("{resourceId}", "1")
        templated = await client.read_resource(uri)
    assert read.contents and str(read.contents[0].uri) == str(resource.uri)
    assert read.ttl_ms == 0 and read.cache_scope == "private"  # the upstream gave none: never cached
    assert templated.contents and str(templated.contents[0].uri) == uri


async def test_a_2026_client_reads_the_resource_of_server_memory_over_http_and_stdio(start_gateway, tmp_path) -> None:
    """server-memory offers one resource (the knowledge graph) and no templates."""
    gateway = start_gateway(_memory(tmp_path))
    async with http_client(gateway.url, TOKEN, mode="auto") as client:
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        over_http = await client.read_resource(str(resources[0].uri))
    config = tmp_path / "stdio.toml"
    config.write_text(
        f'[paths]\npolicies = "{ALLOW_ALL}"\nstate_dir = "{tmp_path / "stdio-state"}"\n' + _memory(tmp_path)
    )
    params = StdioServerParameters(
        command=PYTHON, args=["-m", "gateway", "--config", str(config), "stdio"], cwd=str(ROOT)
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            assert client.session.protocol_version == "2026-07-28"
            await client.list_tools()  # `rollgate stdio` connects upstreams in the background: wait for them
            over_stdio = await client.read_resource(str(resources[0].uri))
    assert templates == []
    for read in (over_http, over_stdio):
        assert json.loads(read.contents[0].text) == {"entities": [], "relations": []}  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES)
async def test_a_stateless_upstreams_resources_and_caching_fields_reach_clients_of_either_era(
    start_gateway, mode: str
) -> None:
    gateway = start_gateway(eras_upstream())
    async with http_client(gateway.url, TOKEN, mode=mode) as client:
        doc = await client.read_resource("eras://doc")
        item = await client.read_resource("eras://item/7")
    assert doc.contents[0].text == "the doc" and item.contents[0].text == "item 7"  # type: ignore[union-attr]
    if mode == "auto":
        assert (doc.ttl_ms, doc.cache_scope) == (5000, "public")  # the upstream's own hints, passed on


@pytest.mark.parametrize("refuser", ["upstream", "gateway"])
@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_resource_is_refused_with_its_uri_in_the_error_data(
    start_gateway, mode: str, refuser: str
) -> None:
    """The upstream's own refusal passes through; with two upstreams, none serves the URI and the
    gateway refuses it itself."""
    gateway = start_gateway(eras_upstream() if refuser == "upstream" else eras_upstream() + probe_upstream())
    async with http_client(gateway.url, TOKEN, mode=mode) as client:
        with pytest.raises(MCPError) as refused:
            await client.read_resource("eras://nope")
    assert refused.value.error.code == types.INVALID_PARAMS
    assert refused.value.error.data == {"uri": "eras://nope"}


# -- the upstream spoken to in its newest revision ---------------------------------------------


@pytest.mark.parametrize("transport", ["stdio", "http"])
@pytest.mark.parametrize("mode", MODES)
async def test_tools_an_upstream_offers_only_to_stateless_clients_reach_clients_of_either_era(
    start_gateway, eras_http_upstream: str, transport: str, mode: str
) -> None:
    gateway = start_gateway(eras_upstream() if transport == "stdio" else eras_http_upstream)
    recorder = Recorder("ada")
    async with http_client(gateway.url, TOKEN, recorder, mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        echoed = await client.call_tool("eras__stateless_echo", {"text": "hi"})
        named = await client.call_tool("eras__ask_name", {})  # an input_required round, answered by the client
    assert {"eras__echo", "eras__stateless_echo", "eras__ask_name"} <= names
    assert text_of(echoed) == "stateless_echo:hi" and not echoed.is_error
    assert recorder.elicited == ["your name?"]
    assert text_of(named) == "hello ada"


# -- capability gates ----------------------------------------------------------------------------


async def _sampled(ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="ok"), model="m")


async def test_server_everythings_capability_tools_are_offered_only_to_clients_that_declared_them(
    start_gateway,
) -> None:
    gateway = start_gateway(_everything())
    gated = {"ev__get-roots-list", "ev__trigger-sampling-request", "ev__trigger-elicitation-request"}
    async with bare_client(gateway.url, "legacy") as bare:
        offered_bare = {tool.name for tool in (await bare.list_tools()).tools}
        with pytest.raises(MCPError, match="unknown tool"):
            await bare.call_tool("ev__trigger-sampling-request", {"prompt": "hi"})
    async with bare_client(gateway.url, "legacy", sampling_callback=_sampled) as sampler:
        offered_sampler = {tool.name for tool in (await sampler.list_tools()).tools}
        sampled = await sampler.call_tool("ev__trigger-sampling-request", {"prompt": "hi", "maxTokens": 10})
    assert "ev__echo" in offered_bare and not gated & offered_bare
    assert "ev__trigger-sampling-request" in offered_sampler
    assert {"ev__get-roots-list", "ev__trigger-elicitation-request"}.isdisjoint(offered_sampler)
    assert not sampled.is_error and "ok" in text_of(sampled)


@pytest.mark.parametrize("mode", MODES)
async def test_a_stateless_upstreams_capability_tools_follow_each_clients_declared_capabilities(
    start_gateway, mode: str
) -> None:
    gateway = start_gateway(eras_upstream())
    async with bare_client(gateway.url, mode) as bare:
        offered_bare = {tool.name for tool in (await bare.list_tools()).tools}
        with pytest.raises(MCPError, match="unknown tool"):
            await bare.call_tool("eras__with_sampling", {})
    async with bare_client(gateway.url, mode, sampling_callback=_sampled) as sampler:
        offered_sampler = {tool.name for tool in (await sampler.list_tools()).tools}
        called = await sampler.call_tool("eras__with_sampling", {})
    assert "eras__echo" in offered_bare
    assert offered_bare.isdisjoint({"eras__with_roots", "eras__with_sampling", "eras__with_elicitation"})
    assert "eras__with_sampling" in offered_sampler and "eras__with_roots" not in offered_sampler
    assert text_of(called) == "with_sampling:ok" and not called.is_error


async def test_a_stateless_upstream_sees_the_capabilities_the_request_declared_not_the_gateways(
    start_gateway,
) -> None:
    """SEP-2575: the upstream judges the downstream request's capabilities; the gateway's own
    (it declares all three) would let a tool run for a client that cannot answer it."""
    gateway = start_gateway(eras_upstream())
    async with bare_client(gateway.url, "auto") as bare:
        with pytest.raises(MCPError) as refused:
            await bare.call_tool("eras__needs_sampling", {})
    async with bare_client(gateway.url, "auto", sampling_callback=_sampled) as sampler:
        called = await sampler.call_tool("eras__needs_sampling", {})
    assert refused.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert text_of(called) == "needs_sampling:declared" and not called.is_error


# -- SSE resumability (streamable HTTP; SEP-1699) ----------------------------------------------


def _events(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if fields:
            events.append(fields)
    return events


async def _first_event_then_drop(http: httpx.AsyncClient, url: str, call: dict, headers: dict) -> dict[str, str]:
    async with http.stream("POST", url, json=call, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        buffer = ""
        async for chunk in response.aiter_text():
            buffer += chunk.replace("\r\n", "\n")
            if "\n\n" in buffer:
                return _events(buffer.partition("\n\n")[0])[0]  # the connection drops here
    raise AssertionError("the stream ended before its first event")


async def _resumed_until_answered(http: httpx.AsyncClient, url: str, headers: dict, request_id: int) -> list[dict]:
    """The messages of a resumed stream, read until the answer to `request_id` (the SDK keeps a
    replaying GET open after it, as a stream for later messages)."""
    messages: list[dict] = []
    with anyio.fail_after(30):
        async with http.stream("GET", url, headers=headers) as response:
            buffer = ""
            async for chunk in response.aiter_text():
                buffer += chunk.replace("\r\n", "\n")
                complete, _, buffer = buffer.rpartition("\n\n")
                events = _events(complete) if complete else []
                messages += [json.loads(event["data"]) for event in events if event.get("data")]
                if any(m.get("id") == request_id for m in messages):
                    return messages
    raise AssertionError(f"the resumed stream ended without the answer: {messages}")


@pytest.mark.parametrize("path", ["sdk", "fast"])
async def test_a_call_stream_opens_with_a_retry_and_is_redelivered_after_last_event_id(
    start_gateway, path: str
) -> None:
    """The first call of a session is served by the SDK's server, later ones by the fast path."""
    gateway = start_gateway(probe_upstream())
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "probe__progress_and_log",
            "arguments": {"tag": "p", "steps": 20},
            "_meta": {"progressToken": 1},
        },
    }
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await handshake_session(http, gateway.url, TOKEN)
        if path == "fast":
            warm = {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "tools/call",
                "params": {"name": "probe__echo", "arguments": {"text": "."}},
            }
            await http.post(gateway.url, json=warm, headers=headers)
        priming = await _first_event_then_drop(http, gateway.url, call, headers)
        messages = await _resumed_until_answered(http, gateway.url, {**headers, "Last-Event-ID": priming["id"]}, 7)
    assert priming["retry"] == "1000" and priming.get("data", "") == "" and priming["id"]
    answer = [m for m in messages if m.get("id") == 7]
    assert len(answer) == 1 and answer[0]["result"]["content"][0]["text"] == "p:done"
    progress = [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"]
    assert progress == list(range(1, 21))  # everything after the priming event, once each
