"""The `rollgate` command: serve over HTTP or stdio, and small operator helpers."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path

import anyio

from gateway.config import Config, hash_token, load_config
from gateway.errors import CatalogError, ConfigError

DEFAULT_CONFIG = Path("rollgate.toml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rollgate", description="Rollgate: a policy gateway for MCP tool calls.")
    parser.add_argument("--config", "-c", type=Path, default=None, help="path of rollgate.toml")
    parser.add_argument("--log-level", default=os.environ.get("ROLLGATE_LOG_LEVEL", "INFO"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve MCP over streamable HTTP")
    commands.add_parser("stdio", help="serve MCP over stdin/stdout (for clients that launch their servers)")
    token = commands.add_parser("token", help="make a new bearer token and print its config entry")
    token.add_argument("agent_id")
    token.add_argument("--role", action="append", default=[])
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "token":
        return _token(args.agent_id, args.role)
    try:
        config = _load(args.config)
        if args.command == "serve":
            from gateway.server.http import serve_http

            anyio.run(serve_http, config)
        else:
            from gateway.server.stdio import serve_stdio

            anyio.run(serve_stdio, config)
    except KeyboardInterrupt:
        return 0
    except BaseException as exc:  # start-up errors surface wrapped in the task groups' exception groups
        refusal = _start_up_error(exc)
        if refusal is None:
            raise
        print(f"rollgate: {refusal}", file=sys.stderr)
        return 2
    return 0


def _start_up_error(exc: BaseException) -> ConfigError | CatalogError | None:
    if isinstance(exc, ConfigError | CatalogError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _start_up_error(inner)) is not None:
                return found
    return None


def _load(path: Path | None) -> Config:
    if path is None:
        env = os.environ.get("ROLLGATE_CONFIG")
        path = Path(env) if env else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return load_config(path)


def _token(agent_id: str, roles: list[str]) -> int:
    token = "rg_" + secrets.token_urlsafe(24)
    print(f"token (give it to the agent; it is not stored): {token}")
    print("\n[[agents]]")
    print(f'id = "{agent_id}"')
    print(f"roles = {roles or ['agent']!r}".replace("'", '"'))
    print(f'token_sha256 = "{hash_token(token)}"')
    return 0
