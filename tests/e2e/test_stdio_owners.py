"""`rollgate stdio` for IDEs, as real processes: upstreams connected in the background, and several
stdio processes and a `serve` on one configuration sharing one owner and one ledger chain."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from tests.conftest import (
    ALLOW_ALL,
    DEFAULT_POLICIES,
    MANIFESTS,
    PYTHON,
    ROOT,
    TOKEN,
    agents_toml,
    free_port,
    probe_upstream,
    stop,
    wait_for_http,
)
from tests.e2e.helpers import http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

HUNG = f'[[upstreams]]\nname = "hung"\ncommand = "{PYTHON}"\nargs = ["-c", "import time; time.sleep(600)"]\n'


def demo(db: Path) -> str:
    return f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n'


def write_config(
    tmp_path: Path, body: str, *, policies: Path = DEFAULT_POLICIES, extra: str = "", state: Path | None = None
) -> Path:
    config = tmp_path / "rollgate.toml"
    state = state or tmp_path / "state"
    config.write_text(
        f"[server]\nport = {free_port()}\n"
        f'[paths]\npolicies = "{policies}"\nmanifests = "{MANIFESTS}"\nstate_dir = "{state}"\n'
        f"{extra}\n{agents_toml()}\n{body}"
    )
    return config


def rollgate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "gateway", "--config", str(config), *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


class StdioClient:
    """A bare JSON-RPC client of a `rollgate stdio` process, as an IDE is: one line per message."""

    def __init__(self, process: Process, name: str) -> None:
        self.process = process
        self.name = name
        self.notifications: list[str] = []
        self._next_id = 0
        self._buffer = b""

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps(message).encode() + b"\n")

    async def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while b"\n" not in self._buffer:
            self._buffer += await self.process.stdout.receive()
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        request_id = f"{self.name}-{self._next_id}"
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        while True:
            message = await self.receive()
            if message.get("id") == request_id:
                return message
            if "method" in message:
                self.notifications.append(message["method"])

    async def initialize(self) -> dict[str, Any]:
        params = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": self.name, "version": "1"},
        }
        answer = await self.request("initialize", params)
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    async def call(self, tool: str, arguments: dict[str, Any], workflow: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"name": tool, "arguments": arguments}
        if workflow is not None:
            params["_meta"] = {"rollgate/workflow": workflow}
        return await self.request("tools/call", params)

    async def tool_names(self) -> set[str]:
        return {tool["name"] for tool in (await self.request("tools/list"))["result"]["tools"]}

    async def close(self) -> int:
        """The MCP stdio shutdown: close stdin, wait for the process to exit."""
        assert self.process.stdin is not None
        await self.process.stdin.aclose()
        with anyio.fail_after(30):
            return await self.process.wait()


@asynccontextmanager
async def stdio_process(config: Path, name: str, log: Path) -> AsyncIterator[StdioClient]:
    with log.open("wb") as errors:
        process = await anyio.open_process(
            [PYTHON, "-m", "gateway", "--config", str(config), "stdio"], cwd=ROOT, stderr=errors
        )
        try:
            yield StdioClient(process, name)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


def start_serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [PYTHON, "-m", "gateway", "--config", str(config), "serve"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    port = int(config.read_text().split("port = ")[1].split()[0])
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process, timeout=60)
    except (RuntimeError, TimeoutError) as exc:
        stop(process)
        raise AssertionError(f"{exc}\n{log.read_text()}") from None
    return process


async def wait_for_path(path: Path, timeout: float = 60) -> None:
    with anyio.fail_after(timeout):
        while not path.exists():
            await anyio.sleep(0.05)


async def until_listed(client: StdioClient, tool: str) -> None:
    with anyio.fail_after(60):
        while tool not in await client.tool_names():
            await anyio.sleep(0.2)


async def call_when_connected(
    client: StdioClient, tool: str, arguments: dict[str, Any], workflow: str
) -> dict[str, Any]:
    """A call, sent again while the owner (new after a takeover) says its upstream is still connecting."""
    with anyio.fail_after(60):
        while "is still connecting" in json.dumps(answer := await client.call(tool, arguments, workflow)):
            await anyio.sleep(0.2)
    return answer


def ledger_rows(tmp_path: Path) -> list[tuple[str, str | None, dict[str, Any]]]:
    with sqlite3.connect(tmp_path / "state" / "ledger.db") as db:
        rows = db.execute("SELECT kind, workflow, body FROM ledger ORDER BY seq").fetchall()
    return [(kind, workflow, json.loads(body)["data"]) for kind, workflow, body in rows]


def assert_one_verified_chain(config: Path) -> int:
    verified = rollgate(config, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return int(verified.stdout.split("OK: ")[1].split()[0])


async def test_initialize_is_answered_at_once_with_a_hung_upstream_whose_calls_alone_fail(tmp_path) -> None:
    config = write_config(tmp_path, probe_upstream() + HUNG + "connect_timeout_seconds = 30\n", policies=ALLOW_ALL)
    async with stdio_process(config, "ide", tmp_path / "stdio.log") as client:
        await wait_for_path(tmp_path / "state" / "run" / "stdio.sock")  # imports done, the owner is starting
        started = time.monotonic()
        answer = await client.initialize()
        elapsed = time.monotonic() - started
        assert answer["result"]["serverInfo"]["name"] == "rollgate"
        assert elapsed < 1.0, f"initialize took {elapsed:.2f}s"

        await until_listed(client, "probe__add")
        added = await client.call("probe__add", {"a": 1, "b": 2})
        hung = await client.call("hung__anything", {})
        assert added["result"]["structuredContent"] == {"result": 3}, added
        assert "upstream 'hung' is still connecting" in hung["error"]["message"]
        assert "notifications/tools/list_changed" in client.notifications or "probe__add" in await client.tool_names()
        assert await client.close() == 0


async def test_a_late_upstream_whose_names_collide_is_refused_and_ledgered(tmp_path) -> None:
    body = probe_upstream("one") + probe_upstream("two", env='{PROBE_SCHEME = "two"}')
    config = write_config(tmp_path, body, policies=ALLOW_ALL, extra='[namespace]\nmode = "none"\n')
    async with stdio_process(config, "ide", tmp_path / "stdio.log") as client:
        await client.initialize()
        await until_listed(client, "echo")
        with anyio.fail_after(60):
            while not any(kind == "upstream.refused" for kind, _, _ in ledger_rows(tmp_path)):
                await anyio.sleep(0.2)
        echoed = await client.call("echo", {"text": "still served"})
        assert await client.close() == 0
    (refusal,) = [data for kind, _, data in ledger_rows(tmp_path) if kind == "upstream.refused"]
    assert refusal["upstream"] in ("one", "two") and "is offered by both" in refusal["error"]
    assert text_of_result(echoed) == "still served"
    assert "is refused and stopped" in (tmp_path / "stdio.log").read_text()


def text_of_result(answer: dict[str, Any]) -> str:
    return "".join(block.get("text", "") for block in answer["result"]["content"])


async def test_two_stdio_processes_and_a_serve_keep_one_chain_through_handover_and_takeover(tmp_path) -> None:
    config = write_config(tmp_path, demo(tmp_path / "demo.db"))
    sock = tmp_path / "state" / "run" / "stdio.sock"
    serve: subprocess.Popen[bytes] | None = None
    async with stdio_process(config, "a", tmp_path / "a.log") as a:
        await a.initialize()
        await wait_for_path(sock)  # a owns; b, started now, follows it
        async with stdio_process(config, "b", tmp_path / "b.log") as b:
            await b.initialize()
            try:
                await until_listed(a, "demo__create_customer")

                async def create(client: StdioClient, who: str) -> None:
                    arguments = {"name": who, "email": f"{who}@x.org"}
                    answer = await call_when_connected(client, "demo__create_customer", arguments, who)
                    assert not answer["result"].get("isError"), answer

                await create(a, "a-owner")
                await create(b, "b-follower")
                assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700 and stat.S_IMODE(sock.stat().st_mode) == 0o600

                serve = start_serve(config, tmp_path / "serve.log")  # a stdio owns: it hands over to serve
                port = int(config.read_text().split("port = ")[1].split()[0])
                async with http_client(f"http://127.0.0.1:{port}/mcp", TOKEN) as agent:
                    created = await agent.call_tool(
                        "demo__create_customer",
                        {"name": "serve", "email": "s@x.org"},
                        meta={"rollgate/workflow": "serve"},
                    )
                assert not created.is_error, text_of(created)
                await create(a, "a-via-serve")  # the same sessions, no new handshake
                await create(b, "b-via-serve")

                stop(serve)  # the owner exits: a follower takes over, the other follows it
                assert serve.returncode == 0
                await create(a, "a-after-serve")
                await create(b, "b-after-serve")
                assert await a.close() == 0
                assert await b.close() == 0
            finally:
                if serve is not None:
                    stop(serve)
    entries = assert_one_verified_chain(config)
    rows = ledger_rows(tmp_path)
    assert len(rows) == entries
    workflows = ["a-owner", "b-follower", "serve", "a-via-serve", "b-via-serve", "a-after-serve", "b-after-serve"]
    for workflow in workflows:
        kinds = [kind for kind, wf, _ in rows if wf == workflow]
        assert kinds.count("call.intent") == 1 and kinds.count("call.result") == 1, (workflow, kinds)
    principals = {wf: data["principal"] for kind, wf, data in rows if kind == "call.intent"}
    assert principals["serve"] == "agent-one" and principals["a-owner"] == principals["b-via-serve"] == "local"
    starts = [data for kind, _, data in rows if kind == "gateway.start"]
    stops = [kind for kind, _, _ in rows if kind == "gateway.stop"]
    # a, serve, the one that took over from serve (and the other, if the owner's client left first)
    assert len(starts) == len(stops) >= 3
    assert "handing the state directory over to rollgate serve" in (tmp_path / "a.log").read_text()


async def test_when_the_owner_exits_a_call_in_flight_is_unknown_and_the_follower_becomes_the_owner(
    tmp_path,
) -> None:
    config = write_config(tmp_path, probe_upstream(), policies=ALLOW_ALL)
    async with stdio_process(config, "owner", tmp_path / "owner.log") as owner:
        await owner.initialize()
        await wait_for_path(tmp_path / "state" / "run" / "stdio.sock")
        async with stdio_process(config, "follower", tmp_path / "follower.log") as follower:
            await follower.initialize()
            await until_listed(follower, "probe__sleep")
            await follower.send(
                {
                    "jsonrpc": "2.0",
                    "id": "slow",
                    "method": "tools/call",
                    "params": {
                        "name": "probe__sleep",
                        "arguments": {"seconds": 30},
                        "_meta": {"rollgate/workflow": "slow"},
                    },
                }
            )
            with anyio.fail_after(30):
                while not any(kind == "call.intent" and wf == "slow" for kind, wf, _ in ledger_rows(tmp_path)):
                    await anyio.sleep(0.1)
            owner.process.send_signal(signal.SIGTERM)  # the owner's IDE window is closed
            with anyio.fail_after(30):
                assert await owner.process.wait() == 0
                while "id" not in (lost := await follower.receive()):
                    follower.notifications.append(lost["method"])  # a list change of the new owner may come first
            assert lost["id"] == "slow" and "may or may not have taken effect" in lost["error"]["message"]
            echoed = await call_when_connected(follower, "probe__echo", {"text": "new owner"}, "after")
            assert text_of_result(echoed) == "new owner"
            assert "this process owns" in (tmp_path / "follower.log").read_text()
            assert await follower.close() == 0
    assert_one_verified_chain(config)
    rows = ledger_rows(tmp_path)
    assert any(kind == "call.outcome_unknown" and wf == "slow" for kind, wf, _ in rows), rows


async def test_a_forwarded_session_is_the_stdio_principal_and_cannot_use_an_agents_workflow(tmp_path) -> None:
    config = write_config(tmp_path, demo(tmp_path / "demo.db"))
    serve = start_serve(config, tmp_path / "serve.log")
    try:
        port = int(config.read_text().split("port = ")[1].split()[0])
        async with http_client(f"http://127.0.0.1:{port}/mcp", TOKEN) as agent:
            created = await agent.call_tool(
                "demo__create_customer", {"name": "Ada", "email": "a@x.org"}, meta={"rollgate/workflow": "agents"}
            )
        assert not created.is_error, text_of(created)
        async with stdio_process(config, "ide", tmp_path / "stdio.log") as ide:
            await ide.initialize()
            taken = await ide.call("demo__create_customer", {"name": "Eve", "email": "e@x.org"}, "agents")
            rolled = await ide.call("rollgate_rollback", {"workflow_id": "agents"})
            assert await ide.close() == 0
        refused = ledger_rows(tmp_path)
    finally:
        stop(serve)
    assert "workflow 'agents' belongs to another principal; local cannot act on it" in json.dumps(taken), taken
    assert "belongs to another principal" in json.dumps(rolled), rolled
    refusals = [data for kind, wf, data in refused if kind == "call.refused" and data.get("principal") == "local"]
    assert len(refusals) >= 2, refusals
    intents = [data for kind, wf, data in refused if kind == "call.intent" and wf == "agents"]
    assert [data["principal"] for data in intents] == ["agent-one"]
    assert_one_verified_chain(config)


async def test_a_second_serve_is_refused_by_the_owner(tmp_path) -> None:
    config = write_config(tmp_path, probe_upstream())
    serve = start_serve(config, tmp_path / "serve.log")
    try:
        second = config.with_name("second.toml")
        second.write_text(config.read_text().replace("port = ", f"port = {free_port()}\n#", 1))
        refused = rollgate(second, "serve")
    finally:
        stop(serve)
    assert refused.returncode == 2 and "another process (rollgate serve, pid" in refused.stderr, refused.stderr
    assert serve.returncode == 0


@pytest.mark.skipif(os.getuid() != 0 or not Path("/usr/bin/python3").exists(), reason="needs root and a system python")
async def test_the_owner_closes_a_connection_of_another_user_unanswered(tmp_path) -> None:
    public = Path(tempfile.mkdtemp(prefix="rollgate-peer-"))
    try:
        config = write_config(tmp_path, probe_upstream(), state=public / "state")
        serve = start_serve(config, tmp_path / "serve.log")
        try:
            sock = public / "state" / "run" / "stdio.sock"
            for directory in (public, sock.parent.parent, sock.parent):  # past the file modes: the peer check
                os.chmod(directory, 0o755)
            os.chmod(sock, 0o666)
            probe = (
                "import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n"
                "    s.sendall(b'{}\\n')\n    print(repr(s.recv(100)))\nexcept OSError:\n    print('closed')\n"
            )
            outsider = subprocess.run(
                ["/usr/bin/python3", "-c", probe, str(sock)], user=65534, capture_output=True, text=True, timeout=30
            )
        finally:
            stop(serve)
    finally:
        shutil.rmtree(public, ignore_errors=True)
    assert outsider.stdout.strip() in ("b''", "closed"), outsider  # connected, and nothing was answered
    assert "refused a local socket connection of uid 65534" in (tmp_path / "serve.log").read_text()
