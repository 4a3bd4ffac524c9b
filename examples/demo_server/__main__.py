"""`python -m examples.demo_server [--db PATH]`: serve the demo bank over stdio."""

import argparse
from pathlib import Path

from examples.demo_server.server import build_server, default_db

parser = argparse.ArgumentParser(prog="python -m examples.demo_server")
parser.add_argument(
    "--db", type=Path, default=None, help="SQLite file (default: $ROLLGATE_DEMO_DB or .rollgate/demo.db)"
)
args = parser.parse_args()
build_server(args.db or default_db()).run()
