"""Rollgate in front of one upstream, configured as the suite needs it: anonymous access, tool
names unchanged (`namespace.mode = "none"`) and the allow-all test policy, since this run is about
the protocol, not policy. The upstream is either a URL (streamable HTTP) or a command the gateway
launches over stdio."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from ports import free_port, wait_port
from toolchain import ROOT, node_env
from upstreams import Upstream, stop

Route = Literal["http", "stdio"]


def config_text(port: int, work: Path, upstream: Upstream, route: Route, url: str | None) -> str:
    policies = ROOT / "tests" / "fixtures" / "policies" / "allow_all"
    lines = [
        f"[server]\nport = {port}",
        "[auth]\nallow_anonymous = true",
        '[namespace]\nmode = "none"',
        f"[paths]\npolicies = {json.dumps(str(policies))}\nmanifests = {json.dumps(str(work / 'manifests'))}"
        f"\nstate_dir = {json.dumps(str(work / 'state'))}",
        f"[[upstreams]]\nname = {json.dumps(upstream.name)}",
    ]
    if route == "http":
        lines.append(f"url = {json.dumps(url)}")
    else:
        lines.append(f"command = {json.dumps(upstream.stdio_command)}\nargs = {json.dumps(list(upstream.stdio_args))}")
    return "\n".join(lines) + "\n"


@contextmanager
def gateway(work: Path, upstream: Upstream, route: Route, url: str | None = None) -> Iterator[str]:
    """The gateway serving on a free loopback port; yields its MCP URL. Its log goes to work/gateway.log."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = work / "rollgate.toml"
    config.write_text(config_text(port, work, upstream, route, url))
    argv = [sys.executable, "-m", "gateway", "--config", str(config), "--log-level", "WARNING", "serve"]
    with (work / "gateway.log").open("wb") as sink:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=node_env())
        try:
            wait_port(port, process)
            wait_upstream_up(port, upstream.name)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            stop(process)


def wait_upstream_up(port: int, name: str) -> None:
    """Until /healthz reports the upstream connected, so the first scenario sees its catalogue."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            health = json.load(answer)
        if health.get("upstreams", {}).get(name, {}).get("up"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"upstream {name} not up behind the gateway: {health}")
