"""The `rollgate` command: serve over HTTP or stdio, and small operator helpers."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import anyio

from gateway.config import Config, hash_token, load_config, new_token
from gateway.errors import CatalogError, ConfigError, StoreError, WouldOverwriteError

DEFAULT_CONFIG = Path("rollgate.toml")


def main(argv: list[str] | None = None) -> int:
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
    approvals = commands.add_parser("approvals", help="the human approval queue").add_subparsers(
        dest="approvals_command", required=True
    )
    listing = approvals.add_parser("list", help="approvals, newest first")
    listing.add_argument(
        "--state", choices=["pending", "approved", "denied", "expired", "executing", "executed", "failed"]
    )
    approvals.add_parser("show", help="one approval, as approvers see it").add_argument("id")
    approve = approvals.add_parser("approve", help="approve a held call")
    approve.add_argument("id")
    approve.add_argument("--comment", default="")
    approve.add_argument("--token", help="your approver token (else ROLLGATE_APPROVER_TOKEN)")
    reject = approvals.add_parser("deny", help="deny a held call")
    reject.add_argument("id")
    reject.add_argument("--reason", required=True)
    reject.add_argument("--token", help="your approver token (else ROLLGATE_APPROVER_TOKEN)")
    rollback = commands.add_parser("rollback", help="undo a workflow's steps, newest first")
    rollback.add_argument("workflow")
    rollback.add_argument("--to-checkpoint", help="undo the steps after this checkpoint")
    rollback.add_argument("--steps", type=_step_numbers, help="only these steps, e.g. 3,5")
    rollback.add_argument("--resource", help="only steps touching this resource key, e.g. account:acc_1")
    rollback.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    rollback.add_argument("--token", help="operator (approver) token, else ROLLGATE_APPROVER_TOKEN")
    quarantine = commands.add_parser("quarantine", help="refuse a workflow's calls, or release it")
    quarantine.add_argument("workflow")
    quarantine.add_argument("--reason")
    quarantine.add_argument("--release", action="store_true")
    quarantine.add_argument("--token", help="operator (approver) token, else ROLLGATE_APPROVER_TOKEN")
    witness = commands.add_parser("witness", help="a C2SP tlog-witness that cosigns ledgers' checkpoints")
    witness_commands = witness.add_subparsers(dest="witness_command", required=True)
    witness_serve = witness_commands.add_parser("serve", help="serve POST /add-checkpoint (and GET /checkpoint/)")
    witness_serve.add_argument("--state-dir", type=Path, required=True, help="the witness's key and records")
    witness_serve.add_argument("--listen", default="127.0.0.1:7380", help="HOST:PORT")
    witness_serve.add_argument("--log", action="append", default=[], help="ORIGIN=VKEY: a log to accept (repeat)")
    witness_serve.add_argument("--log-key", action="append", default=[], help="VKEY: a log, origin = key name")
    witness_serve.add_argument("--name", help="the witness's name, fixed on first run (default rollgate.local/witness)")
    witness_key = witness_commands.add_parser("key", help="print the witness's verifier key (creating the key)")
    witness_key.add_argument("--state-dir", type=Path, required=True)
    witness_key.add_argument("--name")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "token":
        return _token(args.agent_id, args.role, approver=args.approver)
    try:
        if args.command == "witness":
            return _witness(args)
        if args.command == "init":
            from gateway.starter import init as write_starter

            return write_starter(args.directory, force=args.force)
        config = _load(args.config)
        if args.command in ("policy", "plan"):
            return _authoring(args, config)
        if args.command == "ledger":
            return _ledger(args, config)
        if args.command == "approvals":
            return _approvals(args, config)
        if args.command in ("rollback", "quarantine"):
            from gateway.saga import commands as saga

            if args.command == "rollback":
                return saga.rollback(
                    config,
                    args.workflow,
                    to_checkpoint=args.to_checkpoint,
                    steps=args.steps,
                    resource=args.resource,
                    dry_run=args.dry_run,
                    token=args.token,
                )
            return saga.quarantine(config, args.workflow, args.reason, args.release, args.token)
        if args.command == "serve":
            from gateway.server.http import serve_http

            anyio.run(serve_http, config, backend_options=_loop_options(config))
        else:
            from gateway.server.stdio import serve_stdio

            anyio.run(serve_stdio, config, backend_options=_loop_options(config))
    except KeyboardInterrupt:
        return 0
    except BaseException as exc:  # start-up errors surface wrapped in the task groups' exception groups
        refusal = _start_up_error(exc)
        if refusal is None:
            raise
        print(f"rollgate: {refusal}", file=sys.stderr)
        return 2
    return 0


def _loop_options(config: Config) -> dict[str, bool]:
    """anyio's asyncio backend options for `server.event_loop`."""
    choice = config.server.event_loop
    if choice == "asyncio":
        return {}
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("server.event_loop: uvloop is not installed (pip install uvloop)") from None
        return {}
    return {"use_uvloop": True}


def _start_up_error(exc: BaseException) -> ConfigError | CatalogError | StoreError | WouldOverwriteError | None:
    if isinstance(exc, ConfigError | CatalogError | StoreError | WouldOverwriteError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _start_up_error(inner)) is not None:
                return found
    return None


def _authoring(args: argparse.Namespace, config: Config) -> int:
    from gateway import tooling
    from gateway.models import Principal

    if args.command == "plan":
        return tooling.plan_file(config, args.file, Principal(args.principal, frozenset(args.role)))
    if args.policy_command == "test":
        return tooling.policy_test(args.directory or config.policies_dir, args.verbose)
    if args.policy_command == "schema":
        return tooling.export_schemas(None)
    try:
        arguments, meta = json.loads(args.args), json.loads(args.meta)
    except json.JSONDecodeError as exc:
        print(f"rollgate: --args/--meta must be JSON objects: {exc}", file=sys.stderr)
        return 2
    principal = Principal(args.principal, frozenset(args.role))
    return tooling.policy_eval(config, args.tool, arguments, principal, meta)


def _ledger(args: argparse.Namespace, config: Config) -> int:
    from gateway.ledger import commands as ledger

    match args.ledger_command:
        case "verify":
            return ledger.verify(config, args.checkpoint, args.export, args.public_key, witness=args.witness)
        case "show":
            return ledger.show(config, args.workflow, args.agent, args.tool, args.since, args.until)
        case "export":
            return ledger.export(config, args.out)
        case "public-key":
            return ledger.public_key(config)
        case "checkpoint":
            return ledger.checkpoint(config)
        case _:
            return ledger.rotate_key(config)


def _witness(args: argparse.Namespace) -> int:
    from gateway.witness import commands as witness

    if args.witness_command == "serve":
        return witness.serve(args.state_dir, args.listen, args.log, args.log_key, args.name)
    return witness.key(args.state_dir, args.name)


def _approvals(args: argparse.Namespace, config: Config) -> int:
    from gateway.approvals import commands as approvals

    match args.approvals_command:
        case "list":
            return approvals.list_tickets(config, args.state)
        case "show":
            return approvals.show(config, args.id)
        case "approve":
            return approvals.decide(config, args.id, args.token, approved=True, text=args.comment)
        case _:
            return approvals.decide(config, args.id, args.token, approved=False, text=args.reason)


def _step_numbers(text: str) -> list[int]:
    """`--steps 3,5`: step numbers separated by commas (a usage error, exit status 2, otherwise)."""
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of step numbers, e.g. 3,5")
    return steps


def _load(path: Path | None) -> Config:
    if path is None:
        env = os.environ.get("ROLLGATE_CONFIG")
        path = Path(env) if env else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return load_config(path)


def _token(identity: str, roles: list[str], *, approver: bool = False) -> int:
    token = new_token()
    print(f"token (give it to the {'approver' if approver else 'agent'}; it is not stored): {token}")
    print("\n[[approvers]]" if approver else "\n[[agents]]")
    print(f'id = "{identity}"')
    default = ["approver"] if approver else ["agent"]
    print(f"roles = {roles or default!r}".replace("'", '"'))
    print(f'token_sha256 = "{hash_token(token)}"')
    return 0
