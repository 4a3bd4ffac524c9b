"""The demo tool server Rollgate fronts in its demos and tests: a small SQLite bank over MCP stdio.

Customers, accounts, transfers and refunds, versioned records, and an outbox for e-mail; every
mutation has an inverse tool except `send_email`. Start it with `python -m examples.demo_server
--db PATH` from the repository root; `build_server` gives the `MCPServer` for in-process use.

Modules: `store` (the SQLite file), `bank`, `records`, `outbox` (the operations), `models` (what
tools return), `errors` (refusals), `server` (the MCP tools).
"""

from examples.demo_server.server import build_server

__all__ = ["build_server"]
