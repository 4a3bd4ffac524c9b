"""Rollgate: a policy gateway for AI agents' MCP tool calls.

The names below are loaded on first use: `import gateway.config` (every CLI command) must not
pull in the gateway, the MCP SDK, Starlette and uvicorn.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.app import VERSION as __version__
    from gateway.app import Gateway
    from gateway.config import Config, load_config

__all__ = ["Config", "Gateway", "__version__", "load_config"]

_LAZY = {
    "__version__": ("gateway.app", "VERSION"),
    "Gateway": ("gateway.app", "Gateway"),
    "Config": ("gateway.config", "Config"),
    "load_config": ("gateway.config", "load_config"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gateway' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    return getattr(import_module(module), attribute)
