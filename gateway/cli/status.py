"""`rollgate status [--json]`: the running gateway at a glance, asked of its `GET /api/status`.

With `--json` the gateway's answer is printed as it came (for scripts); otherwise as sections: one
line on the gateway, then upstreams, the approval queue, guards, quarantines and the newest
refusals, as `rich` tables on a terminal and plain lines when piped. It needs an operator's
(approver's) token: the report names every agent's refusals. Exit status 1 when the gateway does
not answer or refuses, 2 for a missing token.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from gateway.cli.output import table
from gateway.cli.remote import ask
from gateway.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    report = ask(config, "GET", "/api/status", None, args.token, timeout=30)
    if isinstance(report, int):
        return report
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    show(report)
    return 0


def show(report: dict[str, Any]) -> None:
    """The report as sections of lines and tables."""
    ledger = report["ledger"]
    kept = (
        f"ledger {ledger['entries']} entries, {ledger['checkpoints']} checkpoints"
        if ledger["enabled"]
        else "ledger off"
    )
    print(f"rollgate {report['version']}: up {_duration(report['uptime_seconds'])}; {kept}")
    _section("upstreams")
    table(
        ("UPSTREAM", "TRANSPORT", "STATE", "TOOLS", "ERROR"),
        report["upstreams"],
        lambda u: (u["name"], u["transport"], u["state"], str(u["tools"]), u["error"] or ""),
        lambda u: f"{u['name']:<20} {u['transport']:<16} {u['state']:<10} {u['tools']:>4} {u['error'] or ''}".rstrip(),
    )
    queue = report["approvals"]
    _section("approvals")
    if not queue["enabled"]:
        print("approvals are off")
    else:
        since = f", oldest held since {queue['oldest_pending_since']}" if queue["oldest_pending_since"] else ""
        print(f"{queue['pending']} pending{since}")
    _section("guards")
    for line in guard_lines(report.get("guards") or {}):
        print(line)
    _section("quarantined")
    table(
        ("KIND", "ID", "OWNER", "REASON"),
        report["quarantined"],
        lambda q: (q["kind"], q["id"], q["owner"] or "", q["reason"] or ""),
        lambda q: f"{q['kind']:<8} {q['id']:<30} {q['owner'] or '-':<16} {q['reason'] or ''}".rstrip(),
    )
    _section("recent refusals")
    table(
        ("SEQ", "TIME", "AGENT", "WORKFLOW", "TOOL", "REASONS"),
        report["recent_refusals"],
        lambda r: (
            str(r["seq"]),
            r["time"],
            r["principal"] or "",
            r["workflow"] or "",
            r["tool"] or "",
            "; ".join(r["reasons"]),
        ),
        lambda r: (
            f"{r['seq']:>7} {r['time']} {r['principal'] or '-':<16} {r['workflow'] or '-':<20} "
            f"{r['tool'] or '-':<24} {'; '.join(r['reasons'])}"
        ),
    )


def guard_lines(guards: dict[str, Any]) -> list[str]:
    """The guards' state as sentences: the kill switch, held tools, open breakers, leases, recent trips."""
    lines: list[str] = []
    stop = guards.get("stop") or {}
    if stop.get("all"):
        every = stop["all"]
        lines.append(f"KILL SWITCH: every call stopped by {every['by']} since {every['since']}: {every['reason']}")
    for one in stop.get("principals", []):
        lines.append(f"stopped: agent {one['principal']} by {one['by']} since {one['since']}: {one['reason']}")
    if not stop.get("all") and not stop.get("principals"):
        lines.append("kill switch: off")
    pins = guards.get("pins") or {}
    held = pins.get("held", [])
    lines.append(f"tool definitions: {pins.get('pinned', 0)} pinned, {len(held)} held for review")
    lines += [f"  held: {tool['tool']} ({', '.join(tool['changes'])} changed)" for tool in held]
    for breaker in guards.get("breakers", []):
        wait = f", {breaker['retry_after']:.3g} s left" if breaker.get("retry_after") else ""
        lines.append(
            f"breaker {breaker['kind']} {breaker['key']}: {breaker['state']} after {breaker['failures']} failures{wait}"
        )
    leases = guards.get("leases", [])
    if leases:
        lines.append(f"leases held: {', '.join(lease['key'] for lease in leases)}")
    for name in ("loops", "budgets", "rates"):
        trips = (guards.get(name) or {}).get("recent_trips", [])
        if trips:
            lines.append(f"{name}: {len(trips)} recent trips, newest {_compact(trips[0])}")
    for problem in (guards.get("budgets") or {}).get("problems", []):
        lines.append(f"budgets: {problem}")
    return lines


def _section(title: str) -> None:
    print()
    print(f"== {title}")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), sort_keys=True) if not isinstance(value, str) else value


def _duration(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days}d {hour}h"
    if hours:
        return f"{hours}h {minute}m"
    return f"{minutes}m {second}s" if minutes else f"{second}s"
