"""`rollgate`: parse the command line, set up logging, run the command.

Each command's module is imported when that command runs, so a command loads only what it uses:
`ledger verify` and `approvals list` never import the MCP SDK, Starlette, uvicorn or httpx.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.cli.logs import configure_logging
from gateway.cli.parser import build_parser

if TYPE_CHECKING:
    from gateway.config import Config

DEFAULT_CONFIG = Path("rollgate.toml")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 0
    except BaseException as exc:  # start-up errors surface wrapped in the task groups' exception groups
        refusal = _start_up_error(exc)
        if refusal is None:
            raise
        print(f"rollgate: {refusal}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    match args.command:
        case "token":
            from gateway.cli.token import token

            return token(args.agent_id, args.role, approver=args.approver)
        case "witness":
            from gateway.cli import witness

            return witness.run(args)
        case "init":
            from gateway.starter import init

            return init(args.directory, force=args.force)
    config = _load(args.config)
    match args.command:
        case "policy" | "plan":
            from gateway.cli import authoring

            return authoring.run(args, config)
        case "ledger":
            from gateway.cli import ledger

            return ledger.run(args, config)
        case "approvals":
            from gateway.cli import approvals

            return approvals.run(args, config)
        case "rollback" | "quarantine":
            from gateway.cli import rollback

            return rollback.run(args, config)
        case "status":
            from gateway.cli import status

            return status.run(args, config)
        case "stop" | "resume" | "tools":
            from gateway.cli import guards

            return guards.run(args, config)
    from gateway.cli import serve

    return serve.run(args.command, config)


def _start_up_error(exc: BaseException) -> Exception | None:
    from gateway.errors import CatalogError, ConfigError, StoreError, WouldOverwriteError

    if isinstance(exc, ConfigError | CatalogError | StoreError | WouldOverwriteError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _start_up_error(inner)) is not None:
                return found
    return None


def _load(path: Path | None) -> Config:
    from gateway.config import load_config

    if path is None:
        env = os.environ.get("ROLLGATE_CONFIG")
        path = Path(env) if env else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return load_config(path)
