"""The `rollgate` argument tree: every command and flag, and nothing else.

Building it imports only argparse, so `rollgate --help` and a usage error cost no more than
Python's own start-up; what a command needs is imported when it runs (`dispatch.py`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TypeAlias

TICKET_STATES = ["pending", "approved", "denied", "expired", "executing", "executed", "failed"]
TOKEN_HELP = "your approver token (else ROLLGATE_APPROVER_TOKEN)"
OPERATOR_TOKEN_HELP = "operator (approver) token, else ROLLGATE_APPROVER_TOKEN"

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollgate", description="Rollgate: a policy gateway for MCP tool calls.")
    parser.add_argument("--config", "-c", type=Path, default=None, help="path of rollgate.toml")
    parser.add_argument("--log-level", default=os.environ.get("ROLLGATE_LOG_LEVEL", "INFO"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve MCP over streamable HTTP")
    commands.add_parser("stdio", help="serve MCP over stdin/stdout (for clients that launch their servers)")
    init = commands.add_parser("init", help="write a starter rollgate.toml, policies/ and tool_manifests/")
    init.add_argument("directory", nargs="?", type=Path, default=Path("."))
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    token = commands.add_parser("token", help="make a new bearer token and print its config entry")
    token.add_argument("agent_id")
    token.add_argument("--role", action="append", default=[])
    token.add_argument("--approver", action="store_true", help="print an [[approvers]] entry (a person), not an agent")
    _authoring(commands)
    _ledger(commands)
    _approvals(commands)
    _operations(commands)
    _guards(commands)
    _witness(commands)
    return parser


def _authoring(commands: Commands) -> None:
    policy = commands.add_parser("policy", help="tools for policy authors").add_subparsers(
        dest="policy_command", required=True
    )
    evaluate = policy.add_parser("eval", help="explain the decision for one call (nothing is forwarded)")
    evaluate.add_argument("tool", help="the tool name as a client would call it, e.g. demo__transfer")
    evaluate.add_argument("--args", default="{}", help="the arguments as a JSON object")
    evaluate.add_argument("--principal", default="cli")
    evaluate.add_argument("--role", action="append", default=[])
    evaluate.add_argument("--meta", default="{}", help="request _meta as a JSON object (workflow, confidence, ...)")
    tests = policy.add_parser("test", help="run the Rego test_* rules in the policies directory")
    tests.add_argument("directory", nargs="?", type=Path, default=None)
    tests.add_argument("-v", "--verbose", action="store_true")
    policy.add_parser("schema", help="write the manifest, policy input and decision JSON Schemas")
    plan = commands.add_parser("plan", help="evaluate intended calls from a JSON file without running any")
    plan.add_argument("file", type=Path)
    plan.add_argument("--principal", default="cli")
    plan.add_argument("--role", action="append", default=[])


def _ledger(commands: Commands) -> None:
    ledger = commands.add_parser("ledger", help="the signed ledger").add_subparsers(
        dest="ledger_command", required=True
    )
    verify = ledger.add_parser("verify", help="recompute hashes, chain, Merkle roots and signatures")
    verify.add_argument("--checkpoint", type=Path, help="also prove the ledger extends this earlier checkpoint")
    verify.add_argument("--export", type=Path, help="verify an export file offline instead of the database")
    verify.add_argument("--public-key", type=Path, help="PEM public key (with --export)")
    verify.add_argument(
        "--witness", action="store_true", help="also check each [[ledger.witnesses]]' latest cosigned checkpoint"
    )
    show = ledger.add_parser("show", help="the ledger as a plain-language timeline")
    show.add_argument("--workflow")
    show.add_argument("--agent")
    show.add_argument("--tool", help="qualified tool, e.g. demo/transfer")
    show.add_argument("--since", help="ISO time, e.g. 2026-11-24T10:00")
    show.add_argument("--until", help="ISO time")
    export = ledger.add_parser("export", help="JSONL with inclusion proofs, for retention")
    export.add_argument("--out", type=Path)
    ledger.add_parser("public-key", help="print the public key (PEM) and note verifier key")
    ledger.add_parser("checkpoint", help="sign the current tree head now and print it")
    ledger.add_parser("rotate-key", help="retire the signing key and create a new one")


def _approvals(commands: Commands) -> None:
    approvals = commands.add_parser("approvals", help="the human approval queue").add_subparsers(
        dest="approvals_command", required=True
    )
    listing = approvals.add_parser("list", help="approvals, newest first")
    listing.add_argument("--state", choices=TICKET_STATES)
    approvals.add_parser("show", help="one approval, as approvers see it").add_argument("id")
    approve = approvals.add_parser("approve", help="approve a held call")
    approve.add_argument("id")
    approve.add_argument("--comment", default="")
    approve.add_argument("--token", help=TOKEN_HELP)
    reject = approvals.add_parser("deny", help="deny a held call")
    reject.add_argument("id")
    reject.add_argument("--reason", required=True)
    reject.add_argument("--token", help=TOKEN_HELP)


def _operations(commands: Commands) -> None:
    rollback = commands.add_parser("rollback", help="undo a workflow's steps, newest first")
    rollback.add_argument("workflow")
    rollback.add_argument("--to-checkpoint", help="undo the steps after this checkpoint")
    rollback.add_argument("--steps", type=step_numbers, help="only these steps, e.g. 3,5")
    rollback.add_argument("--resource", help="only steps touching this resource key, e.g. account:acc_1")
    rollback.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    rollback.add_argument("--token", help=OPERATOR_TOKEN_HELP)
    quarantine = commands.add_parser("quarantine", help="refuse a workflow's calls, or release it")
    quarantine.add_argument("workflow")
    quarantine.add_argument("--reason")
    quarantine.add_argument("--release", action="store_true")
    quarantine.add_argument("--token", help=OPERATOR_TOKEN_HELP)
    status = commands.add_parser("status", help="the running gateway: upstreams, queue, guards, quarantines, refusals")
    status.add_argument("--json", action="store_true", help="print the gateway's JSON report as it came")
    status.add_argument("--token", help=OPERATOR_TOKEN_HELP)


def _guards(commands: Commands) -> None:
    stop = commands.add_parser("stop", help="the kill switch: refuse every new call of all agents, or of one")
    resume = commands.add_parser("resume", help="lift a stop of all agents, or of one")
    for command in (stop, resume):
        whom = command.add_mutually_exclusive_group(required=True)
        whom.add_argument("--all", action="store_true", help="every agent")
        whom.add_argument("--agent", help="one agent (principal id)")
        command.add_argument("--token", help=OPERATOR_TOKEN_HELP)
        command.add_argument("--json", action="store_true", help="print the gateway's JSON answer")
    stop.add_argument("--reason", help="why (recorded, and told to the agents refused)")
    tools = commands.add_parser("tools", help="pinned tool definitions").add_subparsers(
        dest="tools_command", required=True
    )
    changed = tools.add_parser("changed", help="tools held because their definition changed, with what changed")
    accept = tools.add_parser("accept", help="accept a held tool's new definition: its calls may run again")
    accept.add_argument("tool", help="SERVER/TOOL, e.g. demo/transfer")
    accept.add_argument("--digest", help="the digest you reviewed: refused if the definition changed again since")
    for command in (changed, accept):
        command.add_argument("--token", help=OPERATOR_TOKEN_HELP)
        command.add_argument("--json", action="store_true", help="print the gateway's JSON answer")


def _witness(commands: Commands) -> None:
    witness = commands.add_parser("witness", help="a C2SP tlog-witness that cosigns ledgers' checkpoints")
    witness_commands = witness.add_subparsers(dest="witness_command", required=True)
    serve = witness_commands.add_parser("serve", help="serve POST /add-checkpoint (and GET /checkpoint/)")
    serve.add_argument("--state-dir", type=Path, required=True, help="the witness's key and records")
    serve.add_argument("--listen", default="127.0.0.1:7380", help="HOST:PORT")
    serve.add_argument("--log", action="append", default=[], help="ORIGIN=VKEY: a log to accept (repeat)")
    serve.add_argument("--log-key", action="append", default=[], help="VKEY: a log, origin = key name")
    serve.add_argument("--name", help="the witness's name, fixed on first run (default rollgate.local/witness)")
    key = witness_commands.add_parser("key", help="print the witness's verifier key (creating the key)")
    key.add_argument("--state-dir", type=Path, required=True)
    key.add_argument("--name")


def step_numbers(text: str) -> list[int]:
    """`--steps 3,5`: step numbers separated by commas (a usage error, exit status 2, otherwise)."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of step numbers, e.g. 3,5")
    return steps
