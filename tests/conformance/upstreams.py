"""The servers the suite is run against, each over streamable HTTP (direct, and behind the
gateway) and over stdio (launched by the gateway).

- `fixture`: fixture_server.py, written from the scenarios' "Server Implementation Requirements".
- `server-everything`: npm `@modelcontextprotocol/server-everything`, the official reference
  server of the MCP servers repository. The conformance repository's own example everything-server
  is published to no registry (see docs/conformance.md), so this is the official server the run can
  install.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ports import wait_port
from toolchain import HERE, LOOPBACK, NODE, SERVER_EVERYTHING, node_env


@dataclass(frozen=True)
class Upstream:
    name: str
    http_argv: tuple[str, ...]
    """Serves streamable HTTP on $PORT (substituted) at /mcp."""
    stdio_command: str
    stdio_args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def http_command(self, port: int) -> list[str]:
        return [part.replace("$PORT", str(port)) for part in self.http_argv]


FIXTURE = Upstream(
    name="fixture",
    http_argv=(sys.executable, str(HERE / "fixture_server.py"), "--port", "$PORT"),
    # "python" is the gateway's own interpreter (UpstreamConfig.command).
    stdio_command="python",
    stdio_args=(str(HERE / "fixture_server.py"), "--stdio"),
)

SERVER_EVERYTHING_UPSTREAM = Upstream(
    name="server-everything",
    http_argv=(str(NODE), "--import", str(LOOPBACK), str(SERVER_EVERYTHING), "streamableHttp"),
    stdio_command=str(NODE),
    stdio_args=(str(SERVER_EVERYTHING), "stdio"),
)

UPSTREAMS = (FIXTURE, SERVER_EVERYTHING_UPSTREAM)


@contextmanager
def serving_http(upstream: Upstream, port: int, log: Path) -> Iterator[str]:
    """The upstream listening on 127.0.0.1:port; yields its MCP URL."""
    env = {**node_env(), "PORT": str(port)}
    with log.open("wb") as sink:
        process = subprocess.Popen(upstream.http_command(port), stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            wait_port(port, process)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
