"""Faults and long-lived sessions: crashed, hung and HTTP upstreams; idle sessions; stdio; revisions."""

from __future__ import annotations

import subprocess

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from tests.conftest import (
    ALLOW_ALL,
    PROBE,
    PYTHON,
    ROOT,
    TOKEN,
    free_port,
    probe_upstream,
    stop,
    wait_for_http,
    wait_for_port,
)
from tests.e2e.helpers import http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_an_upstream_killed_mid_call_fails_clearly_is_restarted_and_others_keep_working(start_gateway) -> None:
    gateway = start_gateway(probe_upstream("probe") + probe_upstream("spare", env='{PROBE_SCHEME = "spare"}'))
    async with http_client(gateway.url, TOKEN) as client:
        with pytest.raises(MCPError, match="upstream 'probe'"):
            await client.call_tool("probe__crash", {})
        assert text_of(await client.call_tool("spare__echo", {"text": "alive"})) == "alive"
        with pytest.raises(MCPError, match="no upstream serves resource 'nowhere://x'"):
            await client.read_resource("nowhere://x")
        with anyio.fail_after(30):
            result = await client.call_tool("probe__echo", {"text": "back"})
    assert text_of(result) == "back"


async def test_an_upstream_that_never_answers_times_out_with_a_clear_error(start_gateway) -> None:
    gateway = start_gateway(probe_upstream(timeout_seconds="1.0"))
    async with http_client(gateway.url, TOKEN) as client:
        with anyio.fail_after(20), pytest.raises(MCPError, match="did not answer tools/call within 1s"):
            await client.call_tool("probe__sleep", {"seconds": 30})
        assert text_of(await client.call_tool("probe__echo", {"text": "next"})) == "next"


async def test_a_cancelled_call_leaves_the_session_usable(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    async with http_client(gateway.url, TOKEN) as client:
        with anyio.move_on_after(0.5):
            await client.call_tool("probe__sleep", {"seconds": 10})
        assert text_of(await client.call_tool("probe__echo", {"text": "after"})) == "after"


@pytest.fixture
def http_probe():
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, PROBE, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_http(f"http://127.0.0.1:{port}/mcp", process)
    yield f"http://127.0.0.1:{port}/mcp"
    stop(process)


async def test_an_idle_session_outlives_every_keep_alive_towards_clients_and_http_upstreams(
    start_gateway, http_probe: str
) -> None:
    gateway = start_gateway(f'[[upstreams]]\nname = "remote"\nurl = "{http_probe}"\n')
    async with http_client(gateway.url, TOKEN) as client:
        assert text_of(await client.call_tool("remote__echo", {"text": "before"})) == "before"
        await anyio.sleep(10)
        assert text_of(await client.call_tool("remote__echo", {"text": "after"})) == "after"
        progress: list[str | None] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(message)

        await client.call_tool("remote__progress_and_log", {"tag": "h", "steps": 2}, progress_callback=on_progress)
    assert progress == ["h:1", "h:2"]


async def test_a_legacy_sse_upstream_is_served_with_progress(start_gateway) -> None:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, PROBE, "--sse", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
        gateway = start_gateway(
            f'[[upstreams]]\nname = "old"\nurl = "http://127.0.0.1:{port}/sse"\ntransport = "sse"\n'
        )
        progress: list[str | None] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(message)

        async with http_client(gateway.url, TOKEN) as client:
            echoed = await client.call_tool("old__echo", {"text": "over sse"})
            await client.call_tool("old__progress_and_log", {"tag": "s", "steps": 2}, progress_callback=on_progress)
    finally:
        stop(process)
    assert text_of(echoed) == "over sse" and progress == ["s:1", "s:2"]


async def test_the_stdio_gateway_serves_a_client_that_launches_it(tmp_path) -> None:
    config = tmp_path / "rollgate.toml"
    # The first listing waits for the probe's first connection, however slowly a busy machine starts it.
    wait = "[stdio]\nfirst_listing_wait_seconds = 30\n"
    config.write_text(f'[paths]\npolicies = "{ALLOW_ALL}"\n{wait}' + probe_upstream())
    params = StdioServerParameters(
        command=PYTHON, args=["-m", "gateway", "--config", str(config), "stdio"], cwd=str(ROOT)
    )
    with anyio.fail_after(30):
        async with Client(params, mode="legacy") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("probe__add", {"a": 1, "b": 2})
    assert "probe__add" in names and result.structured_content == {"result": 3}


def test_a_name_collision_between_upstreams_is_a_clear_start_up_error(tmp_path) -> None:
    config = tmp_path / "rollgate.toml"
    config.write_text(
        '[namespace]\nmode = "none"\n' + probe_upstream("one") + probe_upstream("two", env='{PROBE_SCHEME = "two"}')
    )
    done = subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "tool name 'echo' is offered by both upstream 'one' and 'two'" in done.stderr


def test_a_bad_config_names_the_key_and_exits_2(tmp_path) -> None:
    config = tmp_path / "rollgate.toml"
    config.write_text('[server]\nport = "high"\n[[upstreams]]\nname = "x"\n')
    done = subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "server.port" in done.stderr and "upstreams[0]" in done.stderr


async def test_a_client_on_the_stateless_2026_envelope_calls_tools_through_the_gateway(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    async with http_client(gateway.url, TOKEN, mode="2026-07-28") as client:
        assert client.protocol_version == "2026-07-28"
        result = await client.call_tool("probe__add", {"a": 20, "b": 22})
    assert result.structured_content == {"result": 42}


async def test_a_client_of_an_old_revision_calls_tools_through_the_gateway(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=30) as http:
        init = await http.post(
            gateway.url,
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2024-11-05",
                    "capabilities": {},
                    "clientInfo": {"name": "old", "version": "0"},
                },
            },
        )
        assert '"protocolVersion":"2024-11-05"' in init.text
        headers.update({"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2024-11-05"})
        await http.post(gateway.url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        call = await http.post(
            gateway.url,
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "probe__add", "arguments": {"a": 1, "b": 1}},
            },
        )
    assert '"text":"2"' in call.text and '"isError":false' in call.text
