"""Rollgate: a policy gateway for AI agents' MCP tool calls.

The names below are loaded on first use: `import gateway.config` (every CLI command) must not
pull in the gateway, the MCP SDK, Starlette and uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazy import lazy_names

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gateway.app import Gateway
    from gateway.config import Config, load_config

__all__ = ["Config", "Gateway", "__version__", "load_config"]

_LAZY = {"Gateway": "gateway.app", "Config": "gateway.config", "load_config": "gateway.config"}


__getattr__ = lazy_names(__name__, _LAZY)
