"""The command line loads only what a command uses, and libraries' request logs stay quiet."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
NETWORK_STACK = ("mcp", "mcp_types", "starlette", "uvicorn", "httpx")

LOADED = """
import sys
from gateway.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[0].split(",")))
print("LOADED " + ",".join(heavy), file=sys.stderr)
"""


def loaded_by(*argv: str, cwd: Path) -> list[str]:
    """The network libraries in sys.modules after `rollgate ARGV` ran in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED.replace("sys.argv[0]", repr(",".join(NETWORK_STACK))), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("LOADED"))
    return [name for name in line.removeprefix("LOADED ").split(",") if name]


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    config = tmp_path / "rollgate.toml"
    config.write_text('[paths]\nstate_dir = "state"\n')
    return config


def test_help_loads_none_of_the_network_stack(tmp_path: Path) -> None:
    assert loaded_by("--help", cwd=tmp_path) == []


def test_listing_approvals_loads_none_of_the_network_stack(deployment: Path) -> None:
    assert loaded_by("-c", str(deployment), "approvals", "list", cwd=deployment.parent) == []


def test_stop_without_an_operator_token_is_a_usage_error_that_loads_none_of_the_network_stack(
    deployment: Path,
) -> None:
    assert loaded_by("-c", str(deployment), "stop", "--all", cwd=deployment.parent) == []
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "-c", str(deployment), "stop", "--agent", "a"],
        cwd=deployment.parent,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and "operator (approver) token" in done.stderr


class _Gateway(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the running gateway's REST API, as far as `rollback` sees it
        body = json.dumps({"workflow": "wf-1", "compensated": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gateway_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("log_level, request_logged", [("INFO", False), ("DEBUG", True)])
def test_rollback_prints_the_answer_and_no_http_request_line_unless_debugging(
    tmp_path: Path, gateway_port: int, log_level: str, request_logged: bool
) -> None:
    config = tmp_path / "rollgate.toml"
    config.write_text(f'[server]\nport = {gateway_port}\n[paths]\nstate_dir = "state"\n')
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "--log-level", log_level, "-c", str(config), "rollback", "wf-1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "ROLLGATE_APPROVER_TOKEN": "rg_operator"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"workflow": "wf-1", "compensated": []}
    assert ("HTTP Request: POST" in done.stderr) is request_logged, done.stderr
