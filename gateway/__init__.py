"""Rollgate: a policy gateway for AI agents' MCP tool calls."""

from gateway.app import VERSION as __version__
from gateway.app import Gateway
from gateway.config import Config, load_config

__all__ = ["Config", "Gateway", "__version__", "load_config"]
