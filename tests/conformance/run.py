"""`make conformance`: the official MCP conformance suite, server mode, direct and through Rollgate.

For each suite version given (`--suite`, repeatable; the Makefile passes 0.1.16 and the newest
0.2.x), each spec revision that version scores (0.2.x scores each at its own wire), and each
upstream (upstreams.py: our fixture and the npm reference server-everything), the suite runs three
times: against the upstream direct over streamable HTTP, through the gateway with that upstream
over HTTP, and through the gateway launching the same server over stdio (through.py).

Prints the tally, writes tests/conformance/results/{table.md,summary.json} and every run's checks,
and exits 1 if any scenario that passes direct fails through the gateway (report.py). The tools come
from `make conformance`'s install step (toolchain.py); nothing here downloads anything.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import report
import suite
from applicability import catalogue
from ports import free_port
from report import Block
from through import gateway
from toolchain import HERE, require
from upstreams import UPSTREAMS, Upstream, serving_http

RESULTS = HERE / "results"


def run_block(version: str, revision: str, upstream: Upstream, out: Path) -> Block:
    out.mkdir(parents=True, exist_ok=True)
    routes: dict[str, dict[str, suite.Outcome]] = {}
    with serving_http(upstream, free_port(), out / "upstream.log") as url:
        offered = catalogue(url)
        routes["direct"] = suite.run(version, revision, url, out / "direct" / "suite")
        routes["http"] = through_gateway(version, revision, upstream, out / "http", url)
    routes["stdio"] = through_gateway(version, revision, upstream, out / "stdio")
    seen = set().union(*routes.values())
    lacking = {name: why for name in sorted(seen) if (why := offered.lacks(name)) is not None}
    return Block(version, revision, upstream.name, routes, lacking)


def through_gateway(
    version: str, revision: str, upstream: Upstream, out: Path, url: str | None = None
) -> dict[str, suite.Outcome]:
    """The suite through the gateway; a gateway that does not come up scores nothing on this route."""
    try:
        with gateway(out / "gateway", upstream, "http" if url else "stdio", url) as through:
            return suite.run(version, revision, through, out / "suite")
    except (RuntimeError, TimeoutError, OSError) as exc:
        log = (out / "gateway" / "gateway.log").read_text(errors="replace").splitlines()[-5:]
        print(f"  the gateway did not come up: {exc}\n    " + "\n    ".join(log), flush=True)
        return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", required=True, help="suite version, e.g. 0.2.0-alpha.12")
    parser.add_argument("--upstream", action="append", choices=[u.name for u in UPSTREAMS], help="default: all")
    parser.add_argument("--revision", action="append", help="default: every revision the suite scores")
    args = parser.parse_args()
    require(args.suite)
    upstreams = [u for u in UPSTREAMS if not args.upstream or u.name in args.upstream]
    shutil.rmtree(RESULTS, ignore_errors=True)
    started = time.monotonic()
    blocks = []
    for version in args.suite:
        for revision in suite.revisions(version):
            if args.revision and revision not in args.revision:
                continue
            for upstream in upstreams:
                print(f"suite {version}, revision {revision}, upstream {upstream.name} ...", flush=True)
                blocks.append(run_block(version, revision, upstream, RESULTS / version / revision / upstream.name))
    lost = report.regressions(blocks)
    print()
    report.print_summary(blocks, lost)
    report.write(blocks, lost, RESULTS)
    print(f"\n{len(blocks)} blocks in {time.monotonic() - started:.0f} s; table: {RESULTS / 'table.md'}")
    if lost:
        print(f"{len(lost)} scenario runs pass direct and fail through the gateway")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
