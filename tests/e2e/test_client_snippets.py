"""Every configuration snippet of `docs/clients.md`, run with its real client against a real gateway.

The page is the single source: each fenced block tagged `snippet=NAME` is read out of it, given the
test gateway's URL, token and paths in place of the page's placeholders, and run as a user would:
the `mcp.json` entries by doing what their client does with them (launch the stdio entry's command,
args and env; connect to the HTTP entry's URL with its headers, VS Code inputs answered), the
Inspector lines under bash, the Python snippets as scripts and the JavaScript ones under node. Each
must list the tools and make one allowed call, whose answer names the customer seeded beforehand.
The npm clients come from `.npm-servers` (`make npm-servers`); nothing is downloaded while the test
runs: npm is told to stay offline by an `.npmrc` in the directory the clients run in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import DEFAULT_POLICIES, PYTHON, ROOT, TOKEN, RunningGateway
from tests.e2e.helpers import http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

DOC = ROOT / "docs" / "clients.md"
NODE_MODULES = ROOT / ".npm-servers" / "node_modules"
SNIPPET = re.compile(r"^```(?P<lang>\w+) snippet=(?P<name>[\w-]+)\n(?P<code>.*?)^```$", re.M | re.S)

# The page's placeholders; the test puts its own gateway in their place.
DOC_URL = "http://127.0.0.1:8765/mcp"
DOC_ROLLGATE = "/path/to/venv/bin/rollgate"
DOC_CONFIG = "/path/to/rollgate.toml"
DOC_TOKEN = "<your-rollgate-token>"

ALLOWED_CALL = "demo__list_customers"  # read-only: the default policy allows it
SEEDED = "ada@example.com"  # the customer the call must return
NPM_CLIENTS = [".bin/mcp-inspector", "mcp-remote", "@modelcontextprotocol/sdk"]


def snippets() -> dict[str, str]:
    found = [(match["name"], match["code"]) for match in SNIPPET.finditer(DOC.read_text())]
    assert len({name for name, _ in found}) == len(found), "a snippet name is used twice"
    return dict(found)


@pytest.fixture
def npm_clients() -> None:
    """Skip without node and npm, fail without `.npm-servers`. Listed before `seeded`, so that a
    skip starts no gateway."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed, so the npm clients cannot run")
    for name in NPM_CLIENTS:
        if not (NODE_MODULES / name).exists():
            pytest.fail(f"{NODE_MODULES / name} is missing: run `make npm-servers` (part of `make test`)")


@dataclass
class Bench:
    """A gateway over HTTP and a configuration for `rollgate stdio` in front of the same demo bank,
    and a directory for the clients to run in."""

    gateway: RunningGateway
    stdio_config: Path
    work: Path

    def fill(self, code: str) -> str:
        rollgate = str(Path(PYTHON).parent / "rollgate")
        for placeholder, value in [
            (DOC_URL, self.gateway.url),
            (DOC_ROLLGATE, rollgate),
            (DOC_CONFIG, str(self.stdio_config)),
            (DOC_TOKEN, TOKEN),
        ]:
            code = code.replace(placeholder, value)
        return code

    def snippet(self, name: str) -> str:
        return self.fill(snippets()[name])

    def run(self, argv: list[str]) -> str:
        """Run a client in the work directory with the token in the environment, as the page's
        `$ROLLGATE_TOKEN` asks; it must exit 0 (the Inspector exits 5 for an `isError` result)."""
        # HOME keeps the Inspector's catalog and mcp-remote's ~/.mcp-auth in the test's directory.
        env = {**os.environ, "HOME": str(self.work), "ROLLGATE_TOKEN": TOKEN}
        ran = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=self.work)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        return ran.stdout


@pytest.fixture
def bench(start_gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    db = tmp_path / "demo.db"
    upstream = (
        f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n'
    )
    gateway = start_gateway(upstream, policies=DEFAULT_POLICIES)
    # `rollgate stdio` lists only the upstreams that connected within `first_listing_wait_seconds`
    # of its start (1.5 s): on a loaded test machine the demo server can take longer, and the
    # snippets list and call at once. The wait is start-up timing, not what these tests are about.
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    stdio_config = workspace / "rollgate.toml"
    stdio_config.write_text(
        f'[paths]\npolicies = "{DEFAULT_POLICIES}"\nmanifests = "{ROOT / "tool_manifests"}"\n'
        f'state_dir = "{tmp_path / "stdio-state"}"\n[stdio]\nfirst_listing_wait_seconds = 30\n\n'
        f'{upstream}cwd = "{ROOT}"\n'
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "node_modules").symlink_to(NODE_MODULES)  # what `npx` and bare imports resolve
    (work / ".npmrc").write_text("offline=true\nupdate-notifier=false\n")
    monkeypatch.setenv("HOME", str(work))  # the SDKs hand HOME on to the servers they launch
    return Bench(gateway, stdio_config, work)


@pytest.fixture
async def seeded(bench: Bench) -> Bench:
    async with http_client(bench.gateway.url, TOKEN) as client:
        made = await client.call_tool("demo__create_customer", {"name": "Ada", "email": SEEDED})
    assert not made.is_error, text_of(made)
    return bench


def assert_listed_and_called(output: str) -> None:
    assert ALLOWED_CALL in output and "rollgate_status" in output, output
    assert SEEDED in output, output


async def list_and_call(client: Client) -> str:
    tools = await client.list_tools()
    result = await client.call_tool(ALLOWED_CALL, {})
    assert not result.is_error, text_of(result)
    return " ".join(tool.name for tool in tools.tools) + "\n" + text_of(result)


async def run_stdio_entry(entry: dict[str, Any], bench: Bench) -> str:
    """What Claude Desktop and VS Code do with a stdio entry: launch its command with its args and
    env (on top of the few variables the SDK passes on), and speak MCP over its stdin and stdout."""
    assert "url" not in entry and "headers" not in entry
    server = StdioServerParameters(
        command=entry["command"], args=entry.get("args", []), env=entry.get("env"), cwd=bench.work
    )
    async with Client(server) as client:
        return await list_and_call(client)


def claude_desktop_entry(bench: Bench, name: str) -> dict[str, Any]:
    config = json.loads(bench.snippet(name))
    assert set(config) == {"mcpServers"}
    entry = config["mcpServers"]["rollgate"]
    assert set(entry) <= {"command", "args", "env"}, "Claude Desktop's file takes stdio entries only"
    return entry


def vscode_entry(bench: Bench, name: str) -> dict[str, Any]:
    """The `rollgate` entry of a VS Code `mcp.json` with its variables resolved as VS Code does:
    `${workspaceFolder}`, and each `${input:ID}` by asking for that input (here: the token)."""
    config = json.loads(bench.snippet(name))
    answers = {}
    for item in config.get("inputs", []):
        assert item["type"] == "promptString" and item["password"] is True, item
        answers[item["id"]] = TOKEN
    variables = {"workspaceFolder": str(bench.stdio_config.parent)}
    variables |= {f"input:{key}": value for key, value in answers.items()}
    resolved = re.sub(r"\$\{([^}]+)\}", lambda match: variables[match[1]], json.dumps(config["servers"]))
    return dict(json.loads(resolved)["rollgate"])


def test_the_page_tags_every_snippet_the_suite_runs() -> None:
    assert set(snippets()) == {
        "claude-desktop-stdio", "claude-desktop-http", "vscode-http", "vscode-stdio", "inspector-cli-http",
        "inspector-cli-config", "python-http", "python-stdio", "typescript-http", "typescript-stdio",
    }  # fmt: skip


def test_no_snippet_holds_a_token() -> None:
    for name, code in snippets().items():
        assert TOKEN not in code and not re.search(r"rg_[A-Za-z0-9_-]{8,}", code), name
        for value in re.findall(r"Bearer ?([^\s\"'`]+)", code):
            assert value.startswith(("$", "<", "{")), (name, value)


async def test_claude_desktop_launches_rollgate_stdio(seeded: Bench) -> None:
    assert_listed_and_called(await run_stdio_entry(claude_desktop_entry(seeded, "claude-desktop-stdio"), seeded))


async def test_claude_desktop_reaches_an_http_gateway_through_mcp_remote(npm_clients: None, seeded: Bench) -> None:
    entry = claude_desktop_entry(seeded, "claude-desktop-http")
    assert_listed_and_called(await run_stdio_entry(entry, seeded))


async def test_vscode_connects_over_http_with_the_token_from_a_password_input(seeded: Bench) -> None:
    entry = vscode_entry(seeded, "vscode-http")
    assert entry["type"] == "http" and entry["headers"] == {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=entry["headers"]) as http,
        Client(streamable_http_client(entry["url"], http_client=http)) as client,
    ):
        assert_listed_and_called(await list_and_call(client))


async def test_vscode_launches_rollgate_stdio_from_the_workspace(seeded: Bench) -> None:
    entry = vscode_entry(seeded, "vscode-stdio")
    assert entry.pop("type") == "stdio"
    assert_listed_and_called(await run_stdio_entry(entry, seeded))


async def test_the_inspector_cli_lists_and_calls_over_http_with_a_bearer_header(
    npm_clients: None, seeded: Bench
) -> None:
    assert_listed_and_called(seeded.run(["bash", "-euc", seeded.snippet("inspector-cli-http")]))


@pytest.mark.parametrize("entry", ["claude-desktop-stdio", "claude-desktop-http"])
async def test_the_inspector_cli_runs_the_claude_desktop_file(npm_clients: None, seeded: Bench, entry: str) -> None:
    (seeded.work / "claude_desktop_config.json").write_text(seeded.snippet(entry))
    assert_listed_and_called(seeded.run(["bash", "-euc", seeded.snippet("inspector-cli-config")]))


@pytest.mark.parametrize("name", ["python-http", "python-stdio"])
async def test_the_python_sdk_snippet_runs_as_a_script(seeded: Bench, name: str) -> None:
    script = seeded.work / f"{name}.py"
    script.write_text(seeded.snippet(name))
    output = seeded.run([PYTHON, str(script)])
    assert_listed_and_called(output)
    assert re.search(r"^False ", output, re.M), output  # the call's is_error


@pytest.mark.parametrize("name", ["typescript-http", "typescript-stdio"])
async def test_the_typescript_sdk_snippet_runs_under_node(npm_clients: None, seeded: Bench, name: str) -> None:
    script = seeded.work / f"{name}.mjs"
    script.write_text(seeded.snippet(name))
    output = seeded.run(["node", str(script)])
    assert_listed_and_called(output)
    assert re.search(r"^false ", output, re.M), output  # the call's isError
