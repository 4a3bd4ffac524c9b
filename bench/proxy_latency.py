"""Latency a client sees for `tools/call`: direct, through mcp-proxy, through Rollgate.

    .venv/bin/python bench/proxy_latency.py [--calls 400] [--batches 5] [--only direct,rollgate]

All three columns front the same minimal SDK server over stdio and are measured in one run, batch
by batch in turn (the machine is noisy), at concurrency 1 and 32 over one client session each.
mcp-proxy (a plain pass-through; needs mcp<2) lives in its own venv, bench/.venv-mcp-proxy,
created on first use. Prints p50/p99 per column and the ratios; writes bench/results/*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
PY = sys.executable
MINIMAL = [PY, str(HERE / "minimal_server.py")]
PROXY_VENV = HERE / ".venv-mcp-proxy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def ensure_mcp_proxy() -> Path:
    binary = PROXY_VENV / "bin" / "mcp-proxy"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PROXY_VENV)], check=True)
        subprocess.run([str(PROXY_VENV / "bin" / "pip"), "install", "-q", "mcp-proxy"], check=True)
    return binary


@asynccontextmanager
async def http_session(url: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx2.AsyncClient(headers=headers, limits=limits, timeout=httpx2.Timeout(30, read=300)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy", cache=None) as client:
            yield client


@asynccontextmanager
async def direct(stack: AsyncExitStack) -> AsyncIterator[Client]:
    async with Client(StdioServerParameters(command=MINIMAL[0], args=MINIMAL[1:]), mode="legacy", cache=None) as c:
        yield c


@asynccontextmanager
async def via_mcp_proxy(stack: AsyncExitStack) -> AsyncIterator[Client]:
    port = free_port()
    process = subprocess.Popen(
        [str(ensure_mcp_proxy()), "--port", str(port), "--host", "127.0.0.1", "--", *MINIMAL],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, process)
    wait_for(f"http://127.0.0.1:{port}/status", process)
    async with http_session(f"http://127.0.0.1:{port}/mcp", {}) as client:
        yield client


@asynccontextmanager
async def via_rollgate(stack: AsyncExitStack) -> AsyncIterator[Client]:
    token = secrets.token_urlsafe(16)
    import hashlib

    port = free_port()
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    config = directory / "rollgate.toml"
    config.write_text(
        f'[server]\nport = {port}\n[namespace]\nmode = "none"\n'
        f'[[agents]]\nid = "bench"\nroles = ["agent"]\ntoken_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'
        f'[[upstreams]]\nname = "minimal"\ncommand = "{MINIMAL[0]}"\nargs = ["{MINIMAL[1]}"]\n'
    )
    process = subprocess.Popen([PY, "-m", "gateway", "--config", str(config), "--log-level", "WARNING", "serve"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent)
    stack.callback(_stop, process)
    wait_for(f"http://127.0.0.1:{port}/healthz", process)
    async with http_session(f"http://127.0.0.1:{port}/mcp", {"Authorization": f"Bearer {token}"}) as client:
        yield client


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


COLUMNS: dict[str, Callable[[AsyncExitStack], Any]] = {
    "direct": direct, "mcp-proxy": via_mcp_proxy, "rollgate": via_rollgate,
}


async def batch(client: Client, calls: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    remaining = iter(range(calls))

    async def worker() -> None:
        for _ in remaining:
            start = time.perf_counter()
            result = await client.call_tool("echo", {"text": "ping"})
            latencies.append(time.perf_counter() - start)
            assert not result.is_error

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return latencies, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def main(calls: int, batches: int, only: list[str]) -> dict[str, Any]:
    results: dict[str, dict[int, dict[str, list[float]]]] = {}
    async with AsyncExitStack() as stack:
        clients: dict[str, Client] = {}
        for name in only:
            try:
                clients[name] = await stack.enter_async_context(COLUMNS[name](stack))
            except Exception as exc:  # a column that cannot start is reported and skipped
                print(f"column {name} skipped: {exc}", file=sys.stderr)
        for client in clients.values():
            await batch(client, 50, 8)  # warm-up
        for concurrency in (1, 32):
            for _ in range(batches):
                for name, client in clients.items():
                    lat, elapsed = await batch(client, calls, concurrency)
                    slot = results.setdefault(name, {}).setdefault(concurrency, {"lat": [], "rate": []})
                    slot["lat"].extend(lat)
                    slot["rate"].append(len(lat) / elapsed)
    return report(results)


def report(results: dict[str, dict[int, dict[str, list[float]]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    print(f"{'column':<10} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>9}")
    for name, per in results.items():
        for concurrency, slot in per.items():
            row = {"p50_ms": percentile(slot["lat"], 50), "p99_ms": percentile(slot["lat"], 99),
                   "calls_per_s": statistics.median(slot["rate"])}
            summary.setdefault(name, {})[concurrency] = row
            print(f"{name:<10} {concurrency:>4} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['calls_per_s']:>9.0f}")
    ratio = lambda a, b, c, k: summary[a][c][k] / summary[b][c][k]  # noqa: E731
    if {"rollgate", "mcp-proxy"} <= summary.keys():
        print(f"c=1  p50 rollgate / mcp-proxy       = {ratio('rollgate', 'mcp-proxy', 1, 'p50_ms'):.2f} (target <= 0.70)")
        print(f"c=32 calls/s rollgate / mcp-proxy   = {ratio('rollgate', 'mcp-proxy', 32, 'calls_per_s'):.2f} (target >= 2)")
    if {"rollgate", "direct"} <= summary.keys():
        print(f"c=1  p50 rollgate / direct          = {ratio('rollgate', 'direct', 1, 'p50_ms'):.2f}")
        print(f"c=32 calls/s rollgate / direct      = {ratio('rollgate', 'direct', 32, 'calls_per_s'):.2f} (target >= 0.75)")
    if {"mcp-proxy", "direct"} <= summary.keys():
        print(f"c=1  p50 mcp-proxy / direct         = {ratio('mcp-proxy', 'direct', 1, 'p50_ms'):.2f}")
        print(f"c=32 calls/s mcp-proxy / direct     = {ratio('mcp-proxy', 'direct', 32, 'calls_per_s'):.2f}")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--only", default="direct,mcp-proxy,rollgate")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name in COLUMNS]
    summary = anyio.run(main, args.calls, args.batches, names)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"proxy_latency-{int(time.time())}.json").write_text(json.dumps(summary, indent=2))
    os._exit(0)
