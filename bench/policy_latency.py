"""Policy decision latency, and what the policy stage adds to a call through the gateway.

    .venv/bin/python bench/policy_latency.py [--decisions 5000] [--calls 400] [--batches 5]

1. Decision latency (p50/p99) of the default policy through each engine's client code: the
   in-process regorus engine, and the OPA engine against an OPA Data API server on loopback
   (`opa` if it is on PATH, else the stand-in of tests/fixtures/opa_data_api.py).
2. The decide stage's own cost per call (input, evaluation, interpretation) in-process, as a
   share of a call's p50 through the gateway.
3. End to end, interleaved: p50 of `echo` through the gateway under the default policy (a
   manifest marks `echo` read-only) against the same gateway under a one-line allow-all policy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from gateway.policy import OpaEngine, PolicyService, RegorusEngine  # noqa: E402
from tests.conftest import free_port, stop, wait_for_http  # noqa: E402
from tests.unit.policy.inputs import policy_input  # noqa: E402

MINIMAL = [sys.executable, str(HERE / "minimal_server.py")]


@asynccontextmanager
async def gateway_client(
    stack: AsyncExitStack, policies: Path, manifests: Path, extra: str = ""
) -> AsyncIterator[Client]:
    """The gateway in front of the minimal server, with the given policy and manifests."""
    token = secrets.token_urlsafe(16)
    port = free_port()
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    config = directory / "rollgate.toml"
    config.write_text(
        f'[server]\nport = {port}\n[namespace]\nmode = "none"\n'
        f'[paths]\npolicies = "{policies}"\nmanifests = "{manifests}"\nstate_dir = "{directory}"\n{extra}'
        f'[[agents]]\nid = "bench"\ntoken_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'
        f'[[upstreams]]\nname = "minimal"\ncommand = "{MINIMAL[0]}"\nargs = ["{MINIMAL[1]}"]\n'
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config), "--log-level", "WARNING", "serve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    stack.callback(stop, process)
    wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
    http = await stack.enter_async_context(httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}))
    async with Client(
        streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http), mode="legacy", cache=None
    ) as client:
        yield client


async def calls(client: Client, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        result = await client.call_tool("echo", {"text": "ping"})
        timings.append(time.perf_counter() - start)
        assert not result.is_error, result
    return timings


QUERY = "data.rollgate.policy.decision"
ALLOW_ALL = ROOT / "tests" / "fixtures" / "policies" / "allow_all"


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1e6


async def decisions(service: PolicyService, count: int) -> list[float]:
    timings = []
    for i in range(count):
        document = policy_input("compensable", "high", confidence=0.9 if i % 2 else None)
        start = time.perf_counter()
        await service.evaluate(document)
        timings.append(time.perf_counter() - start)
    return timings


async def main(args: argparse.Namespace) -> None:
    regorus_service = PolicyService(RegorusEngine(QUERY), ROOT / "policies", QUERY)
    await regorus_service.load()
    port = free_port()
    command = (
        ["opa", "run", "--server", f"--addr=127.0.0.1:{port}"]
        if shutil.which("opa")
        else [sys.executable, str(ROOT / "tests" / "fixtures" / "opa_data_api.py"), "--port", str(port)]
    )
    opa = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", opa)
        opa_service = PolicyService(OpaEngine(f"http://127.0.0.1:{port}", 2.0, True), ROOT / "policies", QUERY)
        await opa_service.load()
        await decisions(opa_service, 200)
        opa_times = await decisions(opa_service, max(args.decisions // 10, 200))
        await opa_service.aclose()
    finally:
        opa.terminate()
    await decisions(regorus_service, 200)
    regorus_times = await decisions(regorus_service, args.decisions)
    print(f"{'engine':<28} {'p50 us':>8} {'p99 us':>8}")
    print(f"{'regorus (in-process, RVM)':<28} {pct(regorus_times, 50):>8.1f} {pct(regorus_times, 99):>8.1f}")
    print(
        f"{'opa (' + ('opa binary' if shutil.which('opa') else 'Data API stand-in') + ')':<28} "
        f"{pct(opa_times, 50):>8.1f} {pct(opa_times, 99):>8.1f}"
    )

    manifests = Path(tempfile.mkdtemp()) / "m"
    manifests.mkdir()
    (manifests / "echo.yaml").write_text(
        "version: 1\ntools:\n  - {server: minimal, tool: echo, reversibility: read_only, impact: low}\n"
    )
    rows: dict[str, list[float]] = {"default policy": [], "allow-all policy": []}
    async with AsyncExitStack() as stack:
        clients = {
            "default policy": await stack.enter_async_context(gateway_client(stack, ROOT / "policies", manifests)),
            "allow-all policy": await stack.enter_async_context(gateway_client(stack, ALLOW_ALL, manifests)),
        }
        for client in clients.values():
            await calls(client, 100)
        for _ in range(args.batches):
            for name, client in clients.items():
                rows[name].extend(await calls(client, args.calls))
    p50 = {name: statistics.median(values) * 1e3 for name, values in rows.items()}
    stage_share = statistics.median(regorus_times) * 1e3 / p50["default policy"]
    print(f"\n{'gateway, c=1':<28} {'p50 ms':>8}")
    for name, value in p50.items():
        print(f"{name:<28} {value:>8.3f}")
    print(f"\ndecide stage in-process / call p50      = {stage_share * 100:.1f}% (target < 5%)")
    print(f"default vs allow-all policy, p50 ratio  = {p50['default policy'] / p50['allow-all policy']:.3f}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"policy_latency-{int(time.time())}.json").write_text(
        json.dumps(
            {
                "regorus_us": [pct(regorus_times, 50), pct(regorus_times, 99)],
                "opa_us": [pct(opa_times, 50), pct(opa_times, 99)],
                "p50_ms": p50,
                "stage_share": stage_share,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--batches", type=int, default=5)
    anyio.run(main, parser.parse_args())
