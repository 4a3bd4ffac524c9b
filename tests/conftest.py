"""Shared fixtures: free loopback ports, and the gateway started as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytest_plugins = ["tests.pg"]  # the postgres_url fixture

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PROBE = str(ROOT / "tests" / "fixtures" / "probe_server.py")
MODERN_ONLY = str(ROOT / "tests" / "fixtures" / "modern_only_server.py")
ALLOW_ALL = ROOT / "tests" / "fixtures" / "policies" / "allow_all"
DEFAULT_POLICIES = ROOT / "policies"
MANIFESTS = ROOT / "tool_manifests"
TOKEN = "rg_test_token_for_agent_one"
OTHER_TOKEN = "rg_test_token_for_agent_two"
APPROVER_TOKEN = "rg_test_token_for_alice_approver"
TREASURY_TOKENS = ("rg_test_token_for_tom_treasury", "rg_test_token_for_tess_treasury")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    """For servers whose every endpoint streams (legacy SSE): wait until the port accepts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before port {port} opened")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class RunningGateway:
    url: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path


def probe_upstream(name: str = "probe", **extra: str) -> str:
    lines = [f'[[upstreams]]\nname = "{name}"\ncommand = "{PYTHON}"\nargs = ["{PROBE}"]']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def modern_only_upstream(name: str = "probe") -> str:
    """The probe server as an upstream that speaks only 2026-07-28 (it refuses the handshake)."""
    return f'[[upstreams]]\nname = "{name}"\ncommand = "{PYTHON}"\nargs = ["{MODERN_ONLY}"]\n'


def agents_toml() -> str:
    from gateway.config import hash_token

    return (
        f'[[agents]]\nid = "agent-one"\nroles = ["agent"]\ntoken_sha256 = "{hash_token(TOKEN)}"\n'
        f'[[agents]]\nid = "agent-two"\nroles = ["agent"]\ntoken_sha256 = "{hash_token(OTHER_TOKEN)}"\n'
        f'[[approvers]]\nid = "alice"\nroles = ["approver"]\ntoken_sha256 = "{hash_token(APPROVER_TOKEN)}"\n'
        f'[[approvers]]\nid = "tom"\nroles = ["treasury", "approver"]\n'
        f'token_sha256 = "{hash_token(TREASURY_TOKENS[0])}"\n'
        f'[[approvers]]\nid = "tess"\nroles = ["treasury"]\ntoken_sha256 = "{hash_token(TREASURY_TOKENS[1])}"\n'
    )


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(
        body: str,
        *,
        server: str = "",
        policies: Path = ALLOW_ALL,
        manifests: Path = MANIFESTS,
        extra: str = "",
        approvals: str = "wait_seconds = 0.3",
    ) -> RunningGateway:
        port = free_port()
        config = tmp_path / f"rollgate-{port}.toml"
        paths = f'[paths]\npolicies = "{policies}"\nmanifests = "{manifests}"\nstate_dir = "{tmp_path / "state"}"\n'
        approval_section = f"[approvals]\n{approvals}\n"
        config.write_text(
            f"[server]\nport = {port}\n{server}\n{paths}{approval_section}{extra}\n{agents_toml()}\n{body}"
        )
        log = tmp_path / f"gateway-{port}.log"
        process = subprocess.Popen(
            [PYTHON, "-m", "gateway", "--config", str(config), "serve"],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/healthz", process)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from None
        return RunningGateway(f"{base}/mcp", base, process, log)

    yield start
    for process in started:
        stop(process)
