"""`rollgate stop | resume` (the kill switch) and `rollgate tools changed | accept` (pinned definitions).

Each asks the running gateway over its REST API (`remote.py`: it holds the switch and the pins in
memory and owns the ledger), with an operator's (approver's) token from --token or
ROLLGATE_APPROVER_TOKEN. The answer is a sentence or a table (`output.py`); `--json` prints the
gateway's JSON as it came. A refusal is one line on stderr: exit status 1 for what the gateway
refused or does not know, 2 for a usage error (no token, a tool not named SERVER/TOOL).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from gateway.cli.output import table
from gateway.cli.remote import ask
from gateway.config import Config

DEFAULT_REASON = "stopped with rollgate stop"


def run(args: argparse.Namespace, config: Config) -> int:
    match args.command:
        case "stop":
            body = {**_whom(args), "reason": args.reason or DEFAULT_REASON}
            return _show(ask(config, "POST", "/api/stop", body, args.token), args.json, _said_stop)
        case "resume":
            return _show(ask(config, "POST", "/api/resume", _whom(args), args.token), args.json, _said_resume)
    if args.tools_command == "accept":
        server, _, tool = args.tool.partition("/")
        if not server or not tool:
            print(f"rollgate: name the tool as SERVER/TOOL, e.g. demo/transfer (not {args.tool!r})", file=sys.stderr)
            return 2
        path = f"/api/tools/{quote(server, safe='')}/{quote(tool, safe='')}/accept"
        body = {"digest": args.digest} if args.digest else {}
        return _show(ask(config, "POST", path, body, args.token), args.json, _said_accept)
    return _show(ask(config, "GET", "/api/tools/changed", None, args.token), args.json, _held_table)


def _whom(args: argparse.Namespace) -> dict[str, Any]:
    return {"all": True} if args.all else {"agent": args.agent}


def _show(answer: dict[str, Any] | int, as_json: bool, human: Any) -> int:
    if isinstance(answer, int):
        return answer
    if as_json:
        print(json.dumps(answer, indent=2))
    else:
        human(answer)
    return 0


def _whose(stop: dict[str, Any]) -> str:
    return "every agent's calls" if stop.get("principal") is None else f"agent {stop['principal']}'s calls"


def _said_stop(answer: dict[str, Any]) -> None:
    stop = answer["stop"]
    already = "" if answer["changed"] else " (already: nothing changed)"
    print(f"STOPPED {_whose(stop)}: by {stop['by']} since {stop['since'][:19]} ({stop['reason']}){already}")


def _said_resume(answer: dict[str, Any]) -> None:
    stop = answer["stop"]
    if stop is None:
        print("nothing to resume: no such stop")
    else:
        print(f"resumed {_whose(stop)} (stopped by {stop['by']} since {stop['since'][:19]})")
    if answer["state"]["all"] is not None:
        print(f"still stopped: every agent's calls, by {answer['state']['all']['by']}")


def _said_accept(answer: dict[str, Any]) -> None:
    print(f"accepted {answer['tool']}: {answer['previous_digest'][:19]}… → {answer['digest'][:19]}…")


def _held_table(answer: dict[str, Any]) -> None:
    held = answer["held"]
    if not held:
        print(f"no tool is held ({answer['pinned']} definitions pinned)")
        return
    table(
        ["tool", "pinned", "now", "noticed", "what changed"],
        held,
        lambda h: [h["tool"], h["pinned_digest"][:19], h["digest"][:19], h["noticed_at"][:19], "; ".join(h["changes"])],
        lambda h: f"{h['tool']} {h['pinned_digest']} -> {h['digest']} {h['noticed_at']} {'; '.join(h['changes'])}",
    )
