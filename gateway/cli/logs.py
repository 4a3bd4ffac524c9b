"""How commands log: the gateway's own loggers at the chosen level, libraries quiet unless DEBUG.

`serve` and `stdio` then hand the same loggers to structlog (`gateway.observability`), keeping
the libraries as quiet; every other command keeps these plain lines on stderr.
"""

from __future__ import annotations

import logging
import sys

QUIET_LIBRARIES = ("httpx", "httpcore", "mcp", "uvicorn")
"""Loggers whose INFO lines (one per HTTP request, per session) are not a command's answer."""


def configure_logging(level: str) -> None:
    """The gateway's own loggers at `level`; the libraries' at WARNING unless `level` is DEBUG."""
    level = level.upper()
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)
