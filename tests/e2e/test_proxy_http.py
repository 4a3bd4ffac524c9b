"""The SDK client → gateway over streamable HTTP → the probe server over stdio."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import httpx
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.conftest import OTHER_TOKEN, TOKEN, modern_only_upstream, probe_upstream
from tests.e2e.helpers import Recorder, handshake_session, http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


async def test_tools_are_listed_under_their_namespaced_names(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    async with http_client(gateway.url, TOKEN) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"probe__echo", "probe__add", "probe__rich"} <= names
    assert not any(name == "echo" for name in names)


async def test_results_of_every_content_type_pass_through_unchanged(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    async with http_client(gateway.url, TOKEN) as client:
        result = await client.call_tool("probe__rich", {})
        added = await client.call_tool("probe__add", {"a": 2, "b": 40})
        failed = await client.call_tool("probe__fail", {"message": "boom"})
    kinds = [type(block) for block in result.content]
    assert kinds == [types.TextContent, types.ImageContent, types.AudioContent, types.EmbeddedResource]
    assert result.content[1].data == "iVBORw0KGgo=" and result.content[2].mime_type == "audio/wav"
    assert added.structured_content == {"result": 42}
    assert failed.is_error is True


async def test_progress_and_logging_reach_the_calling_client(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    recorder = Recorder("one")
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with http_client(gateway.url, TOKEN, recorder) as client:
        result = await client.call_tool(
            "probe__progress_and_log", {"tag": "one", "steps": 3}, progress_callback=on_progress
        )
    assert text_of(result) == "one:done"
    assert [p[2] for p in progress] == ["one:1", "one:2", "one:3"]
    assert recorder.logs == ["one:log:1", "one:log:2", "one:log:3"]


async def test_sampling_and_elicitation_are_answered_by_the_calling_client(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    recorder = Recorder("one")
    async with http_client(gateway.url, TOKEN, recorder) as client:
        sampled = await client.call_tool("probe__ask_model", {"tag": "q1"})
        elicited = await client.call_tool("probe__ask_user", {"tag": "q2"})
    assert text_of(sampled) == "model of one"
    assert text_of(elicited) == "accept:one"
    assert recorder.sampled == ["q1"] and recorder.elicited == ["name for q2?"]
    ids = recorder.request_ids  # not 1, 2: another agent must not be able to guess and answer them
    assert len(set(ids)) == 2 and all(isinstance(i, str) and re.fullmatch(r"rollgate-[0-9a-f]{24}", i) for i in ids)


async def test_two_clients_at_once_receive_only_their_own_traffic(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    recorders = {"one": Recorder("one"), "two": Recorder("two")}
    progress: dict[str, list[str | None]] = {"one": [], "two": []}
    answers: dict[str, list[str]] = {"one": [], "two": []}

    async def work(tag: str, token: str) -> None:
        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress[tag].append(message)

        async with http_client(gateway.url, token, recorders[tag]) as client:
            for _ in range(3):
                result = await client.call_tool(
                    "probe__progress_and_log", {"tag": tag, "steps": 4}, progress_callback=on_progress
                )
                answers[tag].append(text_of(result))
                answers[tag].append(text_of(await client.call_tool("probe__ask_model", {"tag": tag})))
                answers[tag].append(text_of(await client.call_tool("probe__ask_user", {"tag": tag})))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(work, "one", TOKEN)
            tg.start_soon(work, "two", OTHER_TOKEN)
    for tag, other in (("one", "two"), ("two", "one")):
        recorder = recorders[tag]
        assert len(progress[tag]) == 12 and all(m and m.startswith(f"{tag}:") for m in progress[tag])
        assert len(recorder.logs) == 12 and all(str(m).startswith(f"{tag}:") for m in recorder.logs)
        assert recorder.sampled == [tag] * 3 and recorder.elicited == [f"name for {tag}?"] * 3
        assert answers[tag] == [f"{tag}:done", f"model of {tag}", f"accept:{tag}"] * 3
        assert not any(str(m).startswith(f"{other}:") for m in recorder.logs)


async def test_arguments_that_do_not_validate_are_refused_naming_the_field_and_never_forwarded(
    start_gateway, tmp_path: Path
) -> None:
    gateway = start_gateway(probe_upstream())
    marker = tmp_path / "touched"
    async with http_client(gateway.url, TOKEN) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("probe__touch", {"path": str(marker), "count": "many"})
        with pytest.raises(MCPError) as missing:
            await client.call_tool("probe__touch", {"path": str(marker)})
        await client.call_tool("probe__touch", {"path": str(marker), "count": 1})
    assert refused.value.error.code == types.INVALID_PARAMS and "count" in refused.value.error.message
    assert "count" in missing.value.error.message
    assert marker.read_text() == "1\n"


async def test_unknown_and_unnamespaced_tools_are_refused(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    async with http_client(gateway.url, TOKEN) as client:
        for name in ("nope", "echo", "PROBE__echo", "probe_echo", "probe/echo"):
            with pytest.raises(MCPError, match="unknown tool"):
                await client.call_tool(name, {"text": "x"})


async def test_resources_templates_prompts_and_completions_pass_through(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    async with http_client(gateway.url, TOKEN) as client:
        resources = await client.list_resources()
        templates = await client.list_resource_templates()
        document = await client.read_resource("probe://doc")
        item = await client.read_resource("probe://items/7")
        prompts = await client.list_prompts()
        prompt = await client.get_prompt("probe__greet", {"name": "Ada"})
    assert [str(r.uri) for r in resources.resources] == ["probe://doc"]
    assert [t.uri_template for t in templates.resource_templates] == ["probe://items/{item_id}"]
    assert document.contents[0].text == "probe document" and item.contents[0].text == "item 7"
    assert [p.name for p in prompts.prompts] == ["probe__greet"]
    assert "Ada" in prompt.messages[0].content.text


@pytest.mark.parametrize("upstream", [probe_upstream(), modern_only_upstream()], ids=["handshake", "2026-only"])
async def test_a_tool_list_change_upstream_reaches_the_client(start_gateway, upstream: str) -> None:
    """A notification from a handshake-era upstream, or an event on a 2026-07-28-only upstream's
    listen stream, reaches the client as list_changed."""
    gateway = start_gateway(upstream)
    recorder = Recorder("one")
    async with http_client(gateway.url, TOKEN, recorder) as client:
        await client.list_tools()
        await client.call_tool("probe__grow", {"name": "sprout"})
        with anyio.fail_after(10):
            while "notifications/tools/list_changed" not in recorder.notifications:
                await anyio.sleep(0.05)
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert "probe__sprout" in names


async def test_a_2026_client_hears_of_tool_list_changes_on_its_listen_stream(start_gateway) -> None:
    from mcp.server.subscriptions import ToolsListChanged

    gateway = start_gateway(probe_upstream())
    async with http_client(gateway.url, TOKEN, mode="2026-07-28") as client:
        async with client.listen(tools_list_changed=True) as subscription:
            assert subscription.honored.tools_list_changed
            await client.call_tool("probe__grow", {"name": "shoot"})
            with anyio.fail_after(10):
                event = await subscription.__anext__()
        assert isinstance(event, ToolsListChanged)
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert "probe__shoot" in names


async def test_requests_without_a_valid_token_get_401(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient() as http:
        missing = await http.post(gateway.url, json=body, headers=headers)
        wrong = await http.post(gateway.url, json=body, headers={**headers, "Authorization": "Bearer nope"})
        basic = await http.post(gateway.url, json=body, headers={**headers, "Authorization": "Basic eDp5"})
    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert "bearer token" in missing.json()["error"]["message"]
    assert missing.headers["www-authenticate"].startswith("Bearer")


async def test_malformed_oversized_and_rebinding_requests_get_errors_and_the_gateway_keeps_serving(
    start_gateway,
) -> None:
    gateway = start_gateway(probe_upstream(), server="max_request_bytes = 65536")
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient() as http:
        garbage = await http.post(gateway.url, content=b"{not json", headers=headers)
        not_rpc = await http.post(gateway.url, json={"hello": "world"}, headers=headers)
        huge = await http.post(gateway.url, content=b"[" + b"1," * 70000 + b"1]", headers=headers)
        evil_host = await http.post(
            gateway.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={**headers, "Host": "evil.example:80"},
        )
        evil_origin = await http.post(
            gateway.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={**headers, "Origin": "http://evil.example"},
        )
    assert garbage.status_code == 400 and not_rpc.status_code == 400
    assert huge.status_code == 413
    assert evil_host.status_code in (403, 421) and evil_origin.status_code == 403
    async with http_client(gateway.url, TOKEN) as client:
        assert text_of(await client.call_tool("probe__echo", {"text": "still here"})) == "still here"


async def test_a_session_cannot_be_used_with_another_agents_token(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    async with http_client(gateway.url, TOKEN) as client:
        await client.list_tools()
        session_id = client.session._dispatcher  # noqa: F841  (session established)
    # A fresh session per token is the norm; reusing one session id with another token is refused.
    async with httpx.AsyncClient() as http:
        session_headers = {
            key: value
            for key, value in (await handshake_session(http, gateway.url, TOKEN)).items()
            if key != "Authorization"
        }
        await http.post(
            gateway.url,
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "probe__echo", "arguments": {"text": "a"}},
            },
            headers={**session_headers, "Authorization": f"Bearer {TOKEN}"},
        )
        hijack = await http.post(
            gateway.url,
            json={
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "probe__echo", "arguments": {"text": "b"}},
            },
            headers={**session_headers, "Authorization": f"Bearer {OTHER_TOKEN}"},
        )
    assert "another principal" in hijack.text


async def _raw_session(http: httpx.AsyncClient, url: str, token: str) -> dict[str, str]:
    """A handshake-era session opened by hand (the stream's connection is the test's to drop)."""
    headers = await handshake_session(http, url, token)
    warm_up = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "tools/call",
        "params": {"name": "probe__echo", "arguments": {"text": "."}},
    }
    await http.post(
        url, json=warm_up, headers=headers
    )  # the session's upstream links open: later calls take the fast path
    return headers


def _sse_events(text: str) -> list[tuple[str, dict]]:
    import json

    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append((fields.get("id", ""), json.loads(fields["data"])))
    return events


async def test_a_dropped_call_stream_is_resumed_with_last_event_id_and_loses_nothing(start_gateway) -> None:
    gateway = start_gateway(probe_upstream())
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "probe__progress_and_log",
            "arguments": {"tag": "r", "steps": 40},
            "_meta": {"progressToken": 1},
        },
    }
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await _raw_session(http, gateway.url, TOKEN)
        first: list[tuple[str, dict]] = []
        async with http.stream("POST", gateway.url, json=call, headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            buffer = ""
            async for chunk in response.aiter_text():
                buffer += chunk.replace("\r\n", "\n")
                first = _sse_events(buffer.rpartition("\n\n")[0])
                if len(first) >= 3:
                    break  # the connection drops here, mid-call
        last_id = first[-1][0]
        assert last_id.startswith("fp-")
        stolen = await http.get(
            gateway.url, headers={**headers, "Authorization": f"Bearer {OTHER_TOKEN}", "Last-Event-ID": last_id}
        )
        resumed = await http.get(gateway.url, headers={**headers, "Last-Event-ID": last_id})
    assert stolen.status_code in (401, 403, 404)
    rest = _sse_events(resumed.text)
    events = first + rest
    numbers = [int(event_id.rpartition("-")[2]) for event_id, _ in events]
    assert numbers == list(range(1, len(events) + 1))  # nothing missed, nothing twice
    progress = [m["params"]["progress"] for _, m in events if m.get("method") == "notifications/progress"]
    assert {m["params"]["progressToken"] for _, m in events if m.get("method") == "notifications/progress"} == {1}
    assert progress == list(range(1, 41))  # once each, with the client's own token
    final = events[-1][1]
    assert final["id"] == 7 and final["result"]["content"][0]["text"] == "r:done"
