"""Latency a client sees for `tools/call`: direct, through mcp-proxy, through Rollgate.

    .venv/bin/python bench/proxy_latency.py [--calls 500] [--batches 6] [--only direct,mcp-proxy,rollgate]

`--only rollgate,rollgate-2026` measures the gateway with the SDK client in both eras in one run
(`rollgate` in the run's `--client-mode`, legacy by default; `rollgate-2026` negotiating by default,
which gives 2026-07-28 stateless requests), the columns interleaved as usual.

All columns front the same minimal SDK server (bench/minimal_server.py) over stdio and are
measured in one run. The machine is noisy, so the columns take turns batch by batch (round robin,
the order rotating each round) rather than one after the other. Modes:

    c1   one session, one call in flight          (latency)
    c32  one session, 32 calls in flight          (throughput of one busy agent)
    s32  32 sessions, one call in flight each     (many agents; not for direct, where a
                                                   session is its own server process)

p50/p99 pool every measured call of a column and mode; calls/s is the median over its batches.
A column that cannot start or whose calls fail is reported as skipped and the rest go on.
Results are printed and written to bench/results/proxy_latency-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio import CancelScope
from columns import BENCH, EXTRA_STARTERS, STARTERS, Column, ColumnUnavailable, baseline_starter
from cpu_time import CpuTime
from latency_report import RATIOS, environment, print_report
from sessions import ToolSession, open_session

CALL_TIMEOUT_S = 30.0
TOOL = "echo"
ARGUMENTS = {"text": "ping"}


@dataclass(frozen=True)
class Mode:
    name: str
    sessions: int
    in_flight: int  # per session


MODES = {mode.name: mode for mode in (Mode("c1", 1, 1), Mode("c32", 1, 32), Mode("s32", 32, 1))}


@dataclass
class Samples:
    """Everything measured for one column in one mode."""

    latencies_s: list[float] = field(default_factory=list)
    batch_rates: list[float] = field(default_factory=list)
    batch_p50s_ms: list[float] = field(default_factory=list)
    cpu: CpuTime = CpuTime(0.0, 0.0)

    def add(self, latencies: list[float], elapsed: float, cpu: CpuTime) -> None:
        self.latencies_s.extend(latencies)
        self.batch_rates.append(len(latencies) / elapsed)
        self.batch_p50s_ms.append(statistics.median(latencies) * 1000)
        self.cpu += cpu

    def summary(self, mode: Mode) -> dict[str, Any]:
        ms = sorted(value * 1000 for value in self.latencies_s)
        return {
            "sessions": mode.sessions,
            "in_flight": mode.in_flight,
            "calls": len(ms),
            "p50_ms": statistics.median(ms),
            "p99_ms": statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0],
            "calls_per_s": statistics.median(self.batch_rates),
            "client_cpu_ms_per_call": self.cpu.client_s * 1000 / len(ms),
            "servers_cpu_ms_per_call": None if self.cpu.servers_s is None else self.cpu.servers_s * 1000 / len(ms),
            "calls_per_s_batches": self.batch_rates,
            "p50_ms_batches": self.batch_p50s_ms,
        }


class CallFailed(Exception):
    """A `tools/call` answered with an error result."""


@dataclass
class Lane:
    """A started column and the sessions the current mode uses."""

    column: Column
    sessions: list[ToolSession]
    skipped: str | None = None

    def takes_part(self, mode: Mode) -> bool:
        return not self.skipped and (mode.sessions == 1 or self.column.many_sessions)


async def call_batch(sessions: Sequence[ToolSession], calls: int, in_flight: int) -> tuple[list[float], float]:
    """`calls` echo calls spread over the sessions with `in_flight` workers each; latencies and wall time."""
    latencies: list[float] = []
    remaining = iter(range(calls))

    async def worker(session: ToolSession) -> None:
        for _ in remaining:
            start = time.perf_counter()
            with anyio.fail_after(CALL_TIMEOUT_S):
                error = await session.call(TOOL, ARGUMENTS)
            latencies.append(time.perf_counter() - start)
            if error is not None:
                raise CallFailed(error)

    start = time.perf_counter()
    async with anyio.create_task_group() as workers:
        for session in sessions:
            for _ in range(in_flight):
                workers.start_soon(worker, session)
    return latencies, time.perf_counter() - start


async def start_lane(name: str, stack: AsyncExitStack, workdir: Path, options: argparse.Namespace) -> Lane:
    """Start a column and open its first session; it must list the tool and answer a call."""
    column_stack = AsyncExitStack()
    try:
        column = await (STARTERS | EXTRA_STARTERS)[name](column_stack, workdir)
        session = await column_stack.enter_async_context(new_session(column, options))
        with anyio.fail_after(CALL_TIMEOUT_S):
            tools = await session.tool_names()
        if TOOL not in tools:
            raise ColumnUnavailable(f"no {TOOL!r} tool among {tools}")
        await call_batch([session], 1, 1)
    except BaseException:
        await column_stack.aclose()
        raise
    await stack.enter_async_context(column_stack)
    return Lane(column, [session])


def new_session(column: Column, options: argparse.Namespace) -> AbstractAsyncContextManager[ToolSession]:
    return open_session(column.target, options.client, column.client_mode or options.client_mode)  # type: ignore[arg-type]


async def open_sessions(lanes: list[Lane], mode: Mode, stack: AsyncExitStack, options: argparse.Namespace) -> None:
    """Give each lane the sessions the mode needs (the first one is reused)."""
    for lane in lanes:
        try:
            while len(lane.sessions) < mode.sessions:
                lane.sessions.append(await stack.enter_async_context(new_session(lane.column, options)))
        except Exception as exc:  # the top of this column's work in the mode: skip the column, go on
            lane.skipped = f"{mode.name}: opening sessions failed: {describe(exc)}"


def schedule(lanes: list[Lane], batches: int) -> list[tuple[Lane, int | None]]:
    """Warm-ups first (batch None), then round robin, each round starting one column further on."""
    turns: list[tuple[Lane, int | None]] = [(lane, None) for lane in lanes]
    for index in range(batches if lanes else 0):
        first = index % len(lanes)
        turns += [(lane, index) for lane in lanes[first:] + lanes[:first]]
    return turns


async def measure_mode(
    lanes: list[Lane], mode: Mode, options: argparse.Namespace, samples: dict[str, dict[str, Samples]]
) -> None:
    """Measure the lanes in the mode, adding each batch to `samples[column][mode]` as it completes."""
    warmup = max(options.warmup, mode.sessions * mode.in_flight)
    for lane, batch in schedule(lanes, options.batches):
        if lane.skipped:
            continue
        calls = warmup if batch is None else options.calls
        before = CpuTime.now()
        try:
            latencies, elapsed = await call_batch(lane.sessions[: mode.sessions], calls, mode.in_flight)
        except Exception as exc:  # the top of this column's batch: skip the column, measure the rest
            lane.skipped = f"{mode.name}: {'warm-up' if batch is None else f'batch {batch}'} failed: {describe(exc)}"
            continue
        if batch is not None:
            samples.setdefault(lane.column.name, {}).setdefault(mode.name, Samples()).add(
                latencies, elapsed, CpuTime.now() - before
            )


def describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:400] if str(exc) else type(exc).__name__


async def run(options: argparse.Namespace, stop_measuring: CancelScope) -> dict[str, Any]:
    samples: dict[str, dict[str, Samples]] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="rollgate-bench-") as tmp:
        async with AsyncExitStack() as stack:
            lanes: list[Lane] = []
            for name in options.only:
                try:
                    lanes.append(await start_lane(name, stack, Path(tmp), options))
                    print(f"{name}: ready", file=sys.stderr, flush=True)
                except Exception as exc:  # the top of this column's start: report it and go on without it
                    skipped[name] = f"did not start: {describe(exc)}"
                    print(f"{name}: skipped, {skipped[name]}", file=sys.stderr, flush=True)
            with stop_measuring:
                for mode in (MODES[name] for name in options.modes):
                    eligible = [lane for lane in lanes if lane.takes_part(mode)]
                    async with AsyncExitStack() as mode_stack:
                        await open_sessions(eligible, mode, mode_stack, options)
                        await measure_mode(eligible, mode, options, samples)
                    print(f"{mode.name}: measured", file=sys.stderr, flush=True)
            skipped |= {lane.column.name: lane.skipped for lane in lanes if lane.skipped}
            commands = {lane.column.name: lane.column.command for lane in lanes}
    results = {name: {mode: found.summary(MODES[mode]) for mode, found in per.items()} for name, per in samples.items()}
    return {"columns": results, "skipped": skipped, "partial": stop_measuring.cancel_called, "commands": commands}


async def main(options: argparse.Namespace) -> dict[str, Any]:
    started = time.time()
    before = environment()
    stop_measuring = CancelScope(deadline=anyio.current_time() + options.time_limit)
    report: dict[str, Any] | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(stop_on_signals, stop_measuring, tasks.cancel_scope)
        report = await run(options, stop_measuring)
        tasks.cancel_scope.cancel()
    if report is None:
        raise KeyboardInterrupt
    report["ratios"] = [found for ratio in RATIOS if (found := ratio.evaluate(report["columns"])) is not None]
    report["options"] = vars(options)
    report["environment"] = {**before, "loadavg_after": os.getloadavg()}
    report["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))
    report["duration_s"] = time.time() - started
    return report


async def stop_on_signals(stop_measuring: CancelScope, everything: CancelScope) -> None:
    """First Ctrl-C or SIGTERM: stop measuring, report what there is. Second: stop at once."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if stop_measuring.cancel_called:
                everything.cancel()
                return
            print("\ninterrupted: stopping, the results so far follow", file=sys.stderr, flush=True)
            stop_measuring.cancel()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500, help="calls per batch (default 500)")
    parser.add_argument("--batches", type=int, default=6, help="batches per column and mode (default 6)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up calls per column and mode (default 200)")
    parser.add_argument("--only", default=",".join(STARTERS), help="columns, comma-separated (default: all)")
    parser.add_argument("--modes", default=",".join(MODES), help="modes, comma-separated (default: all)")
    parser.add_argument(
        "--client",
        default="sdk",
        choices=["sdk", "raw"],
        help="sdk: the MCP SDK v2 Client (default); raw: a bare JSON-RPC client (bench/raw_client.py)",
    )
    parser.add_argument(
        "--client-mode",
        default="legacy",
        choices=["legacy", "auto"],
        help="the SDK client's negotiation (default legacy: mcp-proxy speaks only the handshake era)",
    )
    parser.add_argument("--time-limit", type=float, default=900, help="seconds of measuring before stopping")
    parser.add_argument(
        "--baseline",
        metavar="TREE",
        help="also measure the gateway from another checkout (a column `baseline`, interleaved with the rest)",
    )
    options = parser.parse_args(argv)
    if options.baseline is not None:
        STARTERS["baseline"] = baseline_starter(Path(options.baseline))
        if "baseline" not in options.only:
            options.only += ",baseline"
    for key, known in (("only", STARTERS | EXTRA_STARTERS), ("modes", MODES)):
        chosen = [name.strip() for name in getattr(options, key).split(",") if name.strip()]
        if unknown := [name for name in chosen if name not in known]:
            parser.error(f"--{key}: unknown {unknown}; choose from {list(known)}")
        setattr(options, key, chosen)
    if options.calls < 1 or options.batches < 1 or options.warmup < 0:
        parser.error("--calls and --batches must be at least 1, --warmup at least 0")
    return options


if __name__ == "__main__":
    options = parse_args()
    try:
        report = anyio.run(main, options)
    except KeyboardInterrupt:
        sys.exit(130)
    print_report(report)
    out = BENCH / "results" / f"proxy_latency-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(BENCH.parent)}")
    sys.exit(1 if report["partial"] else 0)
