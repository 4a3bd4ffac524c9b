"""`rollgate stdio`: the gateway as a process that an MCP client launches and talks to over stdio."""

from __future__ import annotations

from mcp.server.stdio import stdio_server

from gateway.app import Gateway
from gateway.config import Config
from gateway.server.handlers import build_server


async def serve_stdio(config: Config) -> None:
    gateway = Gateway(config)
    async with gateway.running():
        server = build_server(gateway)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
