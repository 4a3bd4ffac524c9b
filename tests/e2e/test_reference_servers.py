"""The gateway in front of the official reference servers from npm (installed by `make test`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mcp_types as types
import pytest

from tests.conftest import ROOT, TOKEN
from tests.e2e.helpers import http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

BIN = ROOT / ".npm-servers" / "node_modules" / ".bin"


def _server(name: str) -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed, so the npm reference servers cannot be installed")
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make npm-servers` (part of `make test`)")
    return path


async def test_server_everything_tools_prompts_resources_and_completions_pass_through(start_gateway) -> None:
    everything = _server("mcp-server-everything")
    gateway = start_gateway(f'[[upstreams]]\nname = "ev"\ncommand = "{everything}"\nargs = ["stdio"]\n')
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with http_client(gateway.url, TOKEN) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        echoed = await client.call_tool("ev__echo", {"message": "hi"})
        summed = await client.call_tool("ev__get-sum", {"a": 2, "b": 3})
        image = await client.call_tool("ev__get-tiny-image", {})
        structured = await client.call_tool("ev__get-structured-content", {"location": "New York"})
        await client.call_tool(
            "ev__trigger-long-running-operation", {"duration": 1, "steps": 3}, progress_callback=on_progress
        )
        prompt = await client.get_prompt("ev__args-prompt", {"city": "Paris", "state": "TX"})
        static = await client.read_resource("demo://resource/static/document/architecture.md")
        dynamic = await client.read_resource("demo://resource/dynamic/text/1")
        completion = await client.complete(
            types.PromptReference(type="ref/prompt", name="ev__completable-prompt"),
            {"name": "department", "value": "E"},
        )
    assert {"ev__echo", "ev__get-sum", "ev__get-tiny-image"} <= names
    assert "hi" in text_of(echoed) and "5" in text_of(summed)
    assert any(isinstance(block, types.ImageContent) for block in image.content)
    assert structured.structured_content is not None
    assert progress == [1, 2, 3]
    assert "Paris" in prompt.messages[0].content.text
    assert static.contents and dynamic.contents
    assert "Engineering" in completion.completion.values


async def test_server_memory_keeps_a_knowledge_graph_through_the_gateway(start_gateway, tmp_path: Path) -> None:
    memory = _server("mcp-server-memory")
    store = tmp_path / "memory.jsonl"
    gateway = start_gateway(
        f'[[upstreams]]\nname = "memory"\ncommand = "{memory}"\nenv = {{MEMORY_FILE_PATH = "{store}"}}\n'
    )
    async with http_client(gateway.url, TOKEN) as client:
        await client.call_tool(
            "memory__create_entities",
            {"entities": [{"name": "Ada", "entityType": "person", "observations": ["wrote programs"]}]},
        )
        graph = await client.call_tool("memory__read_graph", {})
        with pytest.raises(Exception, match="entities"):
            await client.call_tool("memory__create_entities", {"entities": "not a list"})
    assert "Ada" in text_of(graph)
    assert json.loads(store.read_text().splitlines()[0])["name"] == "Ada"
