"""What the proxy-latency bench prints and records: the table, the ratios against the targets.

The gateway's targets: at one call in flight, Rollgate's p50 at most 0.7 x mcp-proxy's; at 32 in
flight, at least 2 x mcp-proxy's calls/s and 75% of direct's. A ratio is shown pooled, and with
its range over the rounds, whose batches ran back to back: a wide range means the machine was
busy and the ratio is not to be trusted.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any, Literal


@dataclass(frozen=True)
class Ratio:
    mode: str
    metric: Literal["p50_ms", "calls_per_s"]
    numerator: str
    denominator: str
    bound: tuple[Literal["<=", ">="], float] | None = None
    reference: str = ""

    def evaluate(self, columns: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        """The pooled ratio, and its range over the rounds (batches of one round ran back to back)."""
        try:
            top, bottom = columns[self.numerator][self.mode], columns[self.denominator][self.mode]
        except KeyError:
            return None
        value = top[self.metric] / bottom[self.metric]
        per_batch = "p50_ms_batches" if self.metric == "p50_ms" else "calls_per_s_batches"
        rounds = [a / b for a, b in zip(top[per_batch], bottom[per_batch], strict=False)]
        met = None
        if self.bound is not None:
            met = value <= self.bound[1] if self.bound[0] == "<=" else value >= self.bound[1]
        return {**asdict(self), "value": value, "rounds": [min(rounds), max(rounds)], "met": met}


RATIOS = [
    Ratio("c1", "p50_ms", "rollgate", "mcp-proxy", ("<=", 0.70)),
    Ratio("c32", "calls_per_s", "rollgate", "mcp-proxy", (">=", 2.0)),
    Ratio("c32", "calls_per_s", "rollgate", "direct", (">=", 0.75)),
    Ratio("c1", "p50_ms", "rollgate", "direct"),
    Ratio("s32", "calls_per_s", "rollgate", "mcp-proxy"),
    Ratio("c1", "p50_ms", "rollgate", "mcp-proxy-info"),
    Ratio("c32", "calls_per_s", "rollgate", "mcp-proxy-info"),
    Ratio("c1", "p50_ms", "mcp-proxy", "direct", reference="~3.8 measured before on this machine"),
    Ratio("c32", "calls_per_s", "mcp-proxy", "direct", reference="~0.45 measured before on this machine"),
    Ratio("c32", "calls_per_s", "mcp-proxy-info", "direct", reference="mcp-proxy at its shipped log level"),
    Ratio("c1", "p50_ms", "rollgate", "baseline", reference="this checkout against --baseline"),
    Ratio("c32", "calls_per_s", "rollgate", "baseline", reference="this checkout against --baseline"),
]


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{'column':<10} {'mode':<4} {'sessions x in flight':<20} {'calls':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'calls/s':>8} {'(batches)':<11} {'CPU ms/call: client':>19} {'servers':>7}")  # fmt: skip
    for name, modes in report["columns"].items():
        for mode_name, row in modes.items():
            spread = f"{min(row['calls_per_s_batches']):.0f}-{max(row['calls_per_s_batches']):.0f}"
            servers = "?" if row["servers_cpu_ms_per_call"] is None else f"{row['servers_cpu_ms_per_call']:.2f}"
            label = f"{row['sessions']} session{'s' * (row['sessions'] > 1)} x {row['in_flight']}"
            print(f"{name:<10} {mode_name:<4} {label:<20} {row['calls']:>6} {row['p50_ms']:>7.2f} "
                  f"{row['p99_ms']:>7.2f} {row['calls_per_s']:>8.0f} {spread:<11} "
                  f"{row['client_cpu_ms_per_call']:>19.2f} {servers:>7}")  # fmt: skip
    for name, reason in report["skipped"].items():
        print(f"{name:<10} skipped: {reason}")
    if report["ratios"]:
        print()
    for ratio in report["ratios"]:
        metric = "p50" if ratio["metric"] == "p50_ms" else "calls/s"
        pair = f"{ratio['numerator']} / {ratio['denominator']}"
        low, high = ratio["rounds"]
        line = f"{ratio['mode']:<4} {metric:<8} {pair:<21} = {ratio['value']:5.2f} (rounds {low:.2f}-{high:.2f})"
        if ratio["bound"] is not None:
            line += f"   target {ratio['bound'][0]} {ratio['bound'][1]:.2f}: {'met' if ratio['met'] else 'NOT met'}"
        elif ratio["reference"]:
            line += f"   ({ratio['reference']})"
        print(line)
    if report["partial"]:
        print("\npartial results: measuring was interrupted or ran out of time")


def environment() -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "mcp": version("mcp"),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "platform": platform.platform(),
    }
