"""What guards, metrics and tracing cost a call: the same checkout with them on and off.

    .venv/bin/python bench/guards_overhead.py [--calls 500] [--batches 8] [--modes c1,c32]
        [--off 'observability.enabled=false'] [--off 'guards.enabled=false'] [--on KEY=VALUE ...]

Two Rollgate columns of `proxy_latency.py` (same minimal server, same default policy, same
client, batches interleaved): `on`, the gateway as configured by default plus every `--on`
override, and `off`, the same plus every `--off` override. The default `--off` turns
observability off (and, once the guards exist, `--off guards.enabled=false` turns them off too;
an override naming a section this checkout does not know is refused by the gateway at start, so
the column is reported skipped). Spans are not exported in either column (no `otlp_endpoint`):
the issue's budget is for tracing with the exporter off.

`--log-level INFO` runs both gateways at INFO, where the `on` column writes its one structured
line per call (`proxy_latency.py` runs them at WARNING). Other flags go to `proxy_latency.py`
(`--client raw`, `--calls`, `--batches`, `--warmup`, `--time-limit`).

Prints c1 p50 and c32 calls/s of each column and the ratios on/off (the budget: c1 p50 at most
1.05, c32 calls/s at least 0.95), the median of the per-batch ratios, and the CPU a call of
the gateway and the minimal server together (steadier than wall time on a shared machine).
The gateway of both columns is the checkout this file is in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import columns
import proxy_latency
from columns import BENCH, REPO, STARTERS, Column, start_rollgate


def toml_sections(overrides: list[str]) -> str:
    """`section.key=value` overrides as TOML sections (`value` as TOML: true, 5, "text")."""
    sections: dict[str, list[str]] = defaultdict(list)
    for override in overrides:
        path, sep, value = override.partition("=")
        section, dot, key = path.strip().rpartition(".")
        if not sep or not dot:
            raise SystemExit(f"override {override!r}: expected section.key=value")
        sections[section].append(f"{key} = {value.strip()}")
    return "\n".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items())


def starter(name: str, extra: str) -> Any:
    async def start(stack: AsyncExitStack, workdir: Path) -> Column:
        return await start_rollgate(stack, workdir, name, REPO, extra)

    return start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--on", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--off", action="append", default=None, metavar="SECTION.KEY=VALUE")
    parser.add_argument(
        "--log-level",
        default=columns.LOG_LEVEL,
        help="both gateways' --log-level (default WARNING, as proxy_latency.py; INFO adds the per-call line)",
    )
    ours, rest = parser.parse_known_args()
    columns.LOG_LEVEL = ours.log_level
    off = ours.off if ours.off is not None else ["observability.enabled=false"]
    STARTERS.clear()
    STARTERS["on"] = starter("on", toml_sections(ours.on))
    STARTERS["off"] = starter("off", toml_sections(ours.on + off))
    options = proxy_latency.parse_args(["--only", "on,off", "--modes", "c1,c32", *rest])
    report = anyio.run(proxy_latency.main, options)
    measured = report["columns"]
    print(f"overrides: on {ours.on or '(defaults)'}; off {off}; log level {ours.log_level}")
    for mode, figure in (("c1", "p50_ms"), ("c32", "calls_per_s")):
        if mode in measured.get("on", {}) and mode in measured.get("off", {}):
            on, off_value = measured["on"][mode][figure], measured["off"][mode][figure]
            report.setdefault("overhead", {})[f"{mode} {figure}"] = on / off_value
            print(f"{mode} {figure}: on {on:.3f}, off {off_value:.3f}, on/off {on / off_value:.3f}")
            batches = f"{figure}_batches"
            pairs = zip(measured["on"][mode][batches], measured["off"][mode][batches], strict=False)
            ratios = [a / b for a, b in pairs]
            listed = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"    by batch (on/off): {listed}; median {statistics.median(ratios):.3f}")
            cpu_on, cpu_off = (measured[c][mode]["servers_cpu_ms_per_call"] for c in ("on", "off"))
            if cpu_on and cpu_off:  # CPU a call of gateway + server: steadier than wall time on a busy machine
                report["overhead"][f"{mode} servers_cpu_ms_per_call"] = cpu_on / cpu_off
                ratio = cpu_on / cpu_off
                print(f"    gateway+server CPU a call: on {cpu_on:.3f} ms, off {cpu_off:.3f} ms, on/off {ratio:.3f}")
    for name, why in report["skipped"].items():
        print(f"{name}: skipped, {why}")
    out = BENCH / "results" / f"guards_overhead-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"written: {out.relative_to(BENCH.parent)}")
    return 1 if report["partial"] else 0


if __name__ == "__main__":
    sys.exit(main())
