"""Start the demo bank over stdio: `python -m examples.demo_server [--db PATH]`.

The primary way, and the one `examples/rollgate.toml` uses, is `python -m examples.demo_server`
with the repository root as the working directory. `python examples/demo_server` (the directory
as a script) works from anywhere too: the repository root is then put on `sys.path` first.

The database is `--db PATH`, else `$ROLLGATE_DEMO_DB`, else `.rollgate/demo.db` (relative to the
working directory); it is created, with its folder, on first start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DB_ENV = "ROLLGATE_DEMO_DB"
DEFAULT_DB = Path(".rollgate/demo.db")


def database_path(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo_server", description="The Rollgate demo bank: an MCP server over stdio."
    )
    parser.add_argument("--db", type=Path, help=f"SQLite file (default: ${DB_ENV} or {DEFAULT_DB})")
    given: Path | None = parser.parse_args(argv).db
    return given or Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def main(argv: Sequence[str] | None = None) -> None:
    # Imported here, not at the top, so that script mode can put the repository on sys.path first.
    from examples.demo_server.server import build_server

    build_server(database_path(argv)).run("stdio")


if __name__ == "__main__":
    if not __package__:  # run as `python examples/demo_server`: make `examples` importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
