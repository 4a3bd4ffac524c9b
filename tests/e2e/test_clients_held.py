"""Held calls as the TypeScript SDK clients see them: the Inspector CLI and a bare SDK `Client`.

Both validate any `structuredContent` against the tool's `outputSchema`, even on `isError`
results (issue 15: server-filesystem's held `write_file` showed "data must have required property
content" and never the approval id). Everything comes from `.npm-servers` (`make npm-servers`);
nothing is downloaded while the test runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DEFAULT_POLICIES, TOKEN
from tests.e2e.helpers import decision_of, http_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

NODE_MODULES = Path(__file__).resolve().parents[2] / ".npm-servers" / "node_modules"
APPROVAL_ID = re.compile(r"apr_[0-9a-f]{16}")
VALIDATION_ERRORS = ("must have required property", "does not match the tool's output schema", "-32602")

# A TypeScript SDK client that lists the tools (so that `callTool` validates against their output
# schemas), calls one, and prints what it got. `SDK/` becomes the installed SDK's `dist/esm`: the
# script lives in the test's directory, where bare imports would not resolve.
SDK_CLIENT = """
import { Client } from "SDK/client/index.js";
import { StreamableHTTPClientTransport } from "SDK/client/streamableHttp.js";

const [url, token, tool, args] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "rollgate-held-test", version: "1.0.0" });
await client.connect(transport);
await client.listTools(); // caches the output schemas that callTool validates against
const result = await client.callTool({ name: tool, arguments: JSON.parse(args) });
const decision = (result._meta ?? {})["rollgate/decision"] ?? {};
console.log(JSON.stringify({
  isError: result.isError ?? false,
  hasStructuredContent: "structuredContent" in result,
  approvalId: decision.approval_id ?? null,
  text: result.content.map((block) => block.text ?? "").join(""),
}));
await client.close();
"""


def _node_tool(name: str) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed, so the TypeScript SDK clients cannot run")
    path = NODE_MODULES / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make npm-servers` (part of `make test`)")
    return path


def _offline_env(home: Path) -> dict[str, str]:
    """The Inspector writes a catalog under $HOME: keep it in the test's directory, and keep npm
    from reaching the registry should anything try."""
    return {
        **os.environ,
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "catalog.json"),
        "npm_config_offline": "true",
    }


def inspector(url: str, home: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the Inspector CLI against the gateway: (exit code, its JSON result, everything it said)."""
    cli = _node_tool(".bin/mcp-inspector")
    ran = subprocess.run(
        [str(cli), "--cli", url, "--transport", "http", "--header", f"Authorization: Bearer {TOKEN}"]
        + [*args, "--format", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=90,
        env=_offline_env(home),
        cwd=home,
    )
    said = ran.stdout + ran.stderr
    first = ran.stdout.strip().splitlines()[0] if ran.stdout.strip() else "{}"
    return ran.returncode, json.loads(first), said


def filesystem(files: Path) -> str:
    server = _node_tool(".bin/mcp-server-filesystem")
    return f'[[upstreams]]\nname = "fs"\ncommand = "{server}"\nargs = ["{files}"]\n'


def demo(db: Path) -> str:
    return f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n'


@pytest.fixture
def held_gateway(start_gateway, tmp_path: Path) -> tuple[Any, Path]:
    """The default policy in front of server-filesystem (its `write_file` is irreversible and
    high impact by its annotations: held) and the demo bank."""
    files = tmp_path / "files"
    files.mkdir()
    (files / "a.txt").write_text("hello")
    return start_gateway(filesystem(files) + demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES), files


async def test_the_inspector_cli_shows_a_held_write_file_with_its_approval_id(held_gateway, tmp_path: Path) -> None:
    gateway, files = held_gateway
    target = files / "b.txt"
    listed_code, listed, _ = inspector(gateway.url, tmp_path, "--method", "tools/list")
    read_code, read, _ = inspector(
        gateway.url, tmp_path, "--method", "tools/call", "--tool-name", "fs__read_text_file", "--tool-arg",
        f"path={files / 'a.txt'}",
    )  # fmt: skip
    held_code, held, said = inspector(
        gateway.url, tmp_path, "--method", "tools/call", "--tool-name", "fs__write_file", "--tool-arg",
        f"path={target}", "content=written",
    )  # fmt: skip
    tools = {tool["name"]: tool for tool in listed["result"]["tools"]}
    assert listed_code == 0 and tools["fs__write_file"]["outputSchema"]["required"] == ["content"]
    assert read_code == 0 and read["result"]["structuredContent"] == {"content": "hello"}
    assert "result" in held and not any(error in said for error in VALIDATION_ERRORS), said
    result = held["result"]
    assert held_code == 5 and result["isError"] is True, said  # 5: the CLI's exit code for an isError result
    approval_id = decision_of(result)["approval_id"]
    assert APPROVAL_ID.fullmatch(approval_id) and "structuredContent" not in result
    text = result["content"][0]["text"]
    assert approval_id in text and f'rollgate_approval_status with {{"approval_id": "{approval_id}"}}' in text
    assert not target.exists()


async def test_the_typescript_sdk_client_reads_the_approval_id_of_a_held_call(held_gateway, tmp_path: Path) -> None:
    gateway, files = held_gateway
    sdk = _node_tool("@modelcontextprotocol/sdk/dist/esm")
    script = tmp_path / "held_client.mjs"
    script.write_text(SDK_CLIENT.replace("SDK/", f"{sdk.as_uri()}/"))
    answers = {}
    for tool, arguments in [
        ("fs__write_file", {"path": str(files / "b.txt"), "content": "written"}),
        ("demo__send_email", {"to": "ada@example.com", "subject": "Hi", "body": "held"}),
    ]:
        ran = subprocess.run(
            ["node", str(script), gateway.url, TOKEN, tool, json.dumps(arguments)],
            capture_output=True,
            text=True,
            timeout=90,
            env=_offline_env(tmp_path),
            cwd=tmp_path,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        answers[tool] = json.loads(ran.stdout.strip().splitlines()[-1])
    for tool, answer in answers.items():
        assert answer["isError"] is True and not answer["hasStructuredContent"], (tool, answer)
        assert APPROVAL_ID.fullmatch(answer["approvalId"]), (tool, answer)
        assert answer["approvalId"] in answer["text"] and "rollgate_approval_status" in answer["text"]
    assert not (files / "b.txt").exists()
    async with http_client(gateway.url, TOKEN) as client:  # the Python SDK takes them too
        again = await client.call_tool("fs__write_file", {"path": str(files / "b.txt"), "content": "written"})
        status = await client.call_tool(
            "rollgate_approval_status", {"approval_id": answers["fs__write_file"]["approvalId"]}
        )
    held = decision_of(again)
    assert again.is_error and again.structured_content is None and held["approval_id"] in again.content[0].text
    assert not status.is_error and status.structured_content["status"] == "pending"
