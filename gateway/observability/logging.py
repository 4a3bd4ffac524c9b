"""Structured logs (structlog): JSON lines when stderr is not a terminal, the console renderer on one.

`configure_logging` puts structlog's `ProcessorFormatter` on the root logger's one handler, so
the standard library loggers of the gateway and of its libraries come out in the same format
(libraries stay at WARNING unless the level is DEBUG: `gateway.cli.dispatch.QUIET_LIBRARIES`).
It is called by `rollgate serve` and `rollgate stdio` only: structlog costs the other commands'
start-up nothing.

`CallLog.line` writes the one line per call, at INFO on the `rollgate.calls` logger: correlation
id, principal, workflow, tool, decision effect, outcome, duration. It never carries arguments or
results; the reasons and the error message pass through the call's redaction first (the same
rules as the ledger's), so a secret seen in the call's arguments is `[masked]` there too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog

__all__ = ["CALL_LOGGER", "CallLog", "configure_logging"]

CALL_LOGGER = "rollgate.calls"


def configure_logging(
    level: int | str,
    fmt: str = "auto",
    *,
    stream: TextIO | None = None,
    quiet: Iterable[str] = (),
) -> None:
    """Every log line of the process through structlog's renderer, at `level`; `quiet` loggers at
    WARNING unless `level` is DEBUG."""
    stream = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    foreign = [*shared, structlog.stdlib.ExtraAdder()]
    renderer: Any = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    finish: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if not console:
        finish.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=foreign, processors=[*finish, renderer]))
    root = logging.getLogger()
    root.handlers = [handler]
    level_number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    root.setLevel(level_number)
    if level_number != logging.DEBUG:
        for name in quiet:
            logging.getLogger(name).setLevel(logging.WARNING)


class CallLog:
    """The per-call line, written through the standard library logger (its fields as `extra`, which
    the formatter's `ExtraAdder` puts in the event): without `configure_logging` it still goes to
    the root logger's handler, never to structlog's default of stdout (stdio's MCP channel)."""

    def __init__(self) -> None:
        self._logger = logging.getLogger(CALL_LOGGER)

    @property
    def enabled(self) -> bool:
        """Checked first, so at WARNING a call's line costs a level compare."""
        return self._logger.isEnabledFor(logging.INFO)

    def line(self, fields: Mapping[str, Any]) -> None:
        self._logger.info("tools/call", extra=dict(fields))
