"""The run's verdict and tables: for each suite version, revision and scenario, each upstream
direct, through the gateway with an HTTP upstream and through it with a stdio upstream.

A regression is a scenario that passes direct and fails through the gateway on either route; any
regression fails the run. There is no expected-failure list.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from suite import Outcome

ROUTES = ("direct", "http", "stdio")
ROUTE_TITLES = {"direct": "direct", "http": "through (HTTP upstream)", "stdio": "through (stdio upstream)"}


@dataclass(frozen=True)
class Block:
    """One suite version at one revision against one upstream, on every route."""

    suite: str
    revision: str
    upstream: str
    routes: dict[str, dict[str, Outcome]]
    lacking: dict[str, str]
    """scenario -> the feature it needs that the upstream does not offer (applicability.py): n/a."""


@dataclass(frozen=True)
class Regression:
    block: Block
    scenario: str
    route: str

    @property
    def outcome(self) -> Outcome | None:
        return self.block.routes[self.route].get(self.scenario)


def regressions(blocks: list[Block]) -> list[Regression]:
    lost = []
    for block in blocks:
        for scenario, direct in sorted(block.routes["direct"].items()):
            if scenario in block.lacking:
                continue
            for route in ROUTES[1:]:
                through = block.routes[route].get(scenario)
                if direct.ok and (through is None or not through.ok):
                    lost.append(Regression(block, scenario, route))
    return lost


def cell(outcome: Outcome | None) -> str:
    if outcome is None:
        return "missing"
    total = outcome.passed + outcome.failed
    return f"pass {outcome.passed}/{total}" if outcome.ok else f"FAIL {outcome.passed}/{total}"


def scenarios(block: Block) -> list[str]:
    names: set[str] = set()
    for outcomes in block.routes.values():
        names |= set(outcomes)
    return sorted(names, key=lambda n: (_unscored(block, n) is not None, n))


def _unscored(block: Block, scenario: str) -> str | None:
    for outcomes in block.routes.values():
        if scenario in outcomes:
            return outcomes[scenario].unscored
    return None


def tally(block: Block, route: str) -> str:
    """Scored scenarios passing, of those the upstream can be scored on."""
    scored = [n for n in scenarios(block) if _unscored(block, n) is None and n not in block.lacking]
    passing = sum(1 for n in scored if (o := block.routes[route].get(n)) is not None and o.ok)
    return f"{passing}/{len(scored)}"


def label(block: Block, scenario: str) -> str:
    notes = [why] if (why := _unscored(block, scenario)) else []
    if scenario in block.lacking:
        notes.append(f"n/a: upstream has no {block.lacking[scenario]}")
    return f"{scenario} ({'; '.join(notes)})" if notes else scenario


def markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        lines += [
            f"### Suite {block.suite}, revision {block.revision}, upstream `{block.upstream}`",
            "",
            "Scored scenarios passing: "
            + ", ".join(f"{ROUTE_TITLES[r]} {tally(block, r)}" for r in ROUTES)
            + (f" ({len(block.lacking)} n/a: the upstream lacks what they call)." if block.lacking else "."),
            "",
            "| scenario | " + " | ".join(ROUTE_TITLES[r] for r in ROUTES) + " |",
            "|---|" + "---|" * len(ROUTES),
        ]
        for name in scenarios(block):
            lines.append(
                f"| {label(block, name)} | " + " | ".join(cell(block.routes[r].get(name)) for r in ROUTES) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def print_summary(blocks: list[Block], lost: list[Regression]) -> None:
    print(f"{'suite':<16} {'revision':<11} {'upstream':<18} " + " ".join(f"{r:<8}" for r in ROUTES))
    for block in blocks:
        tallies = " ".join(f"{tally(block, r):<8}" for r in ROUTES)
        print(f"{block.suite:<16} {block.revision:<11} {block.upstream:<18} {tallies}")
    print("(scored scenarios passing, per route)")
    for regression in lost:
        block, outcome = regression.block, regression.outcome
        print(
            f"\nLOST through the gateway ({regression.route} upstream): {regression.scenario} "
            f"[suite {block.suite}, {block.revision}, {block.upstream}]: {cell(outcome)}"
        )
        for failure in outcome.failures if outcome is not None else ("scenario did not report",):
            print(f"    {failure}")


def write(blocks: list[Block], lost: list[Regression], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(markdown(blocks))
    summary = {
        "blocks": [asdict(b) for b in blocks],
        "lost": [
            {
                "suite": r.block.suite,
                "revision": r.block.revision,
                "upstream": r.block.upstream,
                "scenario": r.scenario,
                "route": r.route,
            }
            for r in lost
        ],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
