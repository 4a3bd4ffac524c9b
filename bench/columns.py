"""The columns of the proxy-latency bench: how a client session reaches the minimal server.

Every column fronts the same `minimal_server.py`, run with the main venv's Python over stdio:

- direct: the SDK client launches the server itself (one server process per session);
- mcp-proxy: a plain pass-through (its own venv, it needs `mcp<2`) exposing the server over
  streamable HTTP;
- rollgate: the gateway, with a generated config and bearer token, exposing it the same way.

A column is started once and names its target; sessions.py opens as many client sessions to it
as a mode needs. Child processes run in their own process group and are always stopped: by the
exit stack they are registered on, and at interpreter exit as a last resort.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
from sessions import HttpTarget, StdioTarget, Target

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable  # the main venv's: the bench is run as .venv/bin/python bench/...
MINIMAL_SERVER = [PYTHON, str(BENCH / "minimal_server.py")]
MCP_PROXY = BENCH / ".venv-mcp-proxy" / "bin" / "mcp-proxy"
POLICIES = REPO / "policies"
MANIFESTS = BENCH / "manifests"  # `echo` is read-only: without a manifest the default policy holds it
ROLLGATE = Path(PYTHON).parent / "rollgate"

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
SETUP_TIMEOUT_S = 600.0
# The products under test log at WARNING, so neither pays for per-request INFO lines on stderr.
LOG_LEVEL = "WARNING"
# The gateway's CLI has been seen in both shapes; the first one that parses is used.
ROLLGATE_ARGVS = (("serve", "--config", "{config}"), ("--config", "{config}", "serve"))


class ColumnUnavailable(Exception):
    """A column could not be started or does not answer; the bench goes on without it."""


@dataclass(frozen=True)
class Column:
    """A started column: where its client sessions go to reach the minimal server."""

    name: str
    target: Target
    many_sessions: bool
    """Whether N sessions share one server; false for direct, where each session is its own server."""
    command: list[str]
    """What was started, for the record."""
    client_mode: str | None = None
    """The SDK client's negotiation for this column's sessions; None: the run's `--client-mode`."""


Starter = Callable[[AsyncExitStack, Path], Awaitable[Column]]


async def start_direct(stack: AsyncExitStack, workdir: Path) -> Column:
    return Column("direct", StdioTarget(MINIMAL_SERVER), many_sessions=False, command=MINIMAL_SERVER)


async def start_mcp_proxy(stack: AsyncExitStack, workdir: Path, log_level: str | None = LOG_LEVEL) -> Column:
    """mcp-proxy at WARNING; `log_level=None` leaves it at its shipped default (INFO: a line per
    request from uvicorn's access log and one from the SDK's server)."""
    await ensure_mcp_proxy()
    port = free_port()
    name = "mcp-proxy" if log_level is not None else "mcp-proxy-info"
    argv = [str(MCP_PROXY), "--host", "127.0.0.1", "--port", str(port),
            *(("--log-level", log_level) if log_level is not None else ()), "--", *MINIMAL_SERVER]  # fmt: skip
    child = ChildProcess(argv, workdir / f"{name}.log")
    stack.callback(child.stop)
    await child.wait_listening(port)
    return Column(name, HttpTarget(f"http://127.0.0.1:{port}/mcp"), many_sessions=True, command=argv)


async def start_mcp_proxy_as_shipped(stack: AsyncExitStack, workdir: Path) -> Column:
    return await start_mcp_proxy(stack, workdir, log_level=None)


async def start_rollgate(
    stack: AsyncExitStack, workdir: Path, name: str = "rollgate", tree: Path | None = None, extra: str = ""
) -> Column:
    """The gateway from this checkout, or (`tree`) from another checkout's sources, for an A/B of a
    change; `extra` is TOML appended to its configuration (`guards_overhead.py`: sections switched off)."""
    if not ROLLGATE.exists():
        raise ColumnUnavailable(f"{ROLLGATE} is not installed")
    token = secrets.token_urlsafe(32)
    port = free_port()
    workdir = workdir / name
    workdir.mkdir(exist_ok=True)
    config = workdir / "rollgate.toml"
    token_sha256 = hashlib.sha256(token.encode()).hexdigest()
    config.write_text(rollgate_config(port, token_sha256, workdir / "state") + "\n" + extra)
    env = {"ROLLGATE_LOG_LEVEL": LOG_LEVEL, **GUARDS_NEVER_TRIP}
    if tree is not None:
        if not (tree / "gateway" / "__init__.py").is_file():
            raise ColumnUnavailable(f"{tree} holds no gateway/ package")
        env["PYTHONPATH"] = str(tree)  # ahead of the editable install of this checkout
    refusals: list[str] = []
    for attempt, shape in enumerate(ROLLGATE_ARGVS):
        argv = [str(ROLLGATE), *(part.format(config=config) for part in shape)]
        child = ChildProcess(argv, workdir / f"rollgate-{attempt}.log", env)
        stack.callback(child.stop)
        try:
            await child.wait_listening(port)
        except ColumnUnavailable as exc:
            child.stop()
            if "usage:" not in str(exc):
                raise
            refusals.append(f"`{' '.join(argv[1:])}`: {exc}")
            continue
        target = HttpTarget(f"http://127.0.0.1:{port}/mcp", {"Authorization": f"Bearer {token}"})
        return Column(name, target, many_sessions=True, command=argv)
    raise ColumnUnavailable("no command line was accepted: " + "; ".join(refusals))


async def start_rollgate_modern(stack: AsyncExitStack, workdir: Path) -> Column:
    """The gateway from this checkout, its SDK sessions negotiating by default (2026-07-28, stateless)
    whatever `--client-mode` says: beside `rollgate` in legacy mode, the two eras in one run."""
    column = await start_rollgate(stack, workdir, "rollgate-2026")
    return replace(column, client_mode="auto")


STARTERS: dict[str, Starter] = {"direct": start_direct, "mcp-proxy": start_mcp_proxy, "rollgate": start_rollgate}
EXTRA_STARTERS: dict[str, Starter] = {
    "mcp-proxy-info": start_mcp_proxy_as_shipped,
    "rollgate-2026": start_rollgate_modern,
}
"""Columns measured only when `--only` names them."""


def baseline_starter(tree: Path) -> Starter:
    """A `baseline` column: the gateway from `tree` (say, a `git worktree` of the commit before a change)."""

    async def start(stack: AsyncExitStack, workdir: Path) -> Column:
        return await start_rollgate(stack, workdir, "baseline", tree.resolve())

    return start


GUARDS_NEVER_TRIP = {
    f"ROLLGATE_GUARDS__{key}": "1000000000"
    for key in (
        "LOOPS__SAME_CALL",
        "LOOPS__SAME_TOOL",
        "LOOPS__READ_SAME_CALL",
        "RATES__PRINCIPAL__RATE",
        "RATES__PRINCIPAL__BURST",
        "RATES__TOOL__RATE",
        "RATES__TOOL__BURST",
    )
}
"""A bench sends one call with the same arguments hundreds of times a second: a loop and a rate
limit by design. These limits keep every guard measuring (the cost a bench is after) and none
refusing. As environment variables, so a baseline from before the guards starts too (it has no
`guards` setting to read them into)."""


def rollgate_config(port: int, token_sha256: str, state_dir: Path) -> str:
    """The gateway in front of the minimal server alone, under the repository's default policy."""

    def quoted(value: object) -> str:
        return json.dumps(str(value))  # a JSON string is a TOML basic string for these values

    return "\n".join([
        "[server]", 'host = "127.0.0.1"', f"port = {port}", 'path = "/mcp"', "",
        "[namespace]", 'mode = "none"', "",
        "[paths]", f"policies = {quoted(POLICIES)}", f"manifests = {quoted(MANIFESTS)}",
        f"state_dir = {quoted(state_dir)}", "",
        "[[agents]]", 'id = "bench-agent"', 'roles = ["agent"]', f"token_sha256 = {quoted(token_sha256)}", "",
        "[[upstreams]]", 'name = "minimal"', f"command = {quoted(MINIMAL_SERVER[0])}",
        f"args = [{quoted(MINIMAL_SERVER[1])}]", "",
    ])  # fmt: skip


async def ensure_mcp_proxy() -> None:
    """Create bench/.venv-mcp-proxy with `setup.sh` when it is missing."""
    if MCP_PROXY.exists():
        return
    print("creating bench/.venv-mcp-proxy (bench/setup.sh) ...", file=sys.stderr, flush=True)
    with anyio.fail_after(SETUP_TIMEOUT_S):
        done = await anyio.run_process(["bash", str(BENCH / "setup.sh")], check=False, stdout=None, stderr=None)
    if done.returncode != 0 or not MCP_PROXY.exists():
        raise ColumnUnavailable(f"bench/setup.sh failed (exit {done.returncode})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LIVE: set[ChildProcess] = set()


class ChildProcess:
    """A server process in its own process group, its output in a log file."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})}, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        _LIVE.add(self)

    async def wait_listening(self, port: int) -> None:
        """Poll until the port accepts connections; fail if the process exits or time runs out."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ColumnUnavailable(f"exited with {self.process.returncode}: {self.log_tail()}")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.05)
                continue
            await stream.aclose()
            return
        raise ColumnUnavailable(f"not listening on port {port} after {START_TIMEOUT_S:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 8) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()[-lines:]
        return " | ".join(text) or "(no output)"

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL if it is still there after a grace period."""
        _LIVE.discard(self)
        if self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
                return
            except subprocess.TimeoutExpired:
                continue


@atexit.register
def _stop_all() -> None:
    for child in list(_LIVE):
        child.stop()
