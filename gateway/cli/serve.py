"""`rollgate serve` (streamable HTTP) and `rollgate stdio`, on the event loop `server.event_loop` picks."""

from __future__ import annotations

import anyio

from gateway.config import Config
from gateway.errors import ConfigError


def run(command: str, config: Config) -> int:
    if config.observability.enabled:  # structured logs: JSON lines, or the console renderer on a terminal
        import logging

        from gateway.cli.logs import QUIET_LIBRARIES
        from gateway.observability import configure_logging

        configure_logging(logging.getLogger().level, config.observability.log_format, quiet=QUIET_LIBRARIES)
    if command == "serve":
        from gateway.server.http import serve_http

        anyio.run(serve_http, config, backend_options=loop_options(config))
    else:
        from gateway.server.stdio import serve_stdio

        anyio.run(serve_stdio, config, backend_options=loop_options(config))
    return 0


def loop_options(config: Config) -> dict[str, bool]:
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
