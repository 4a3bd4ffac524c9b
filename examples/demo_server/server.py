"""The demo tool server: a small bank with customers, accounts, transfers, records and e-mail.

Every mutating tool has an inverse or repair tool (create/delete customer, open/close account,
transfer/refund, update/read/delete record), except `send_email`, which cannot be undone. The MCP
tool annotations say so honestly. Domain refusals come back as tool errors (`isError`) with a
clear message. Run: `python -m examples.demo_server --db PATH` (stdio).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

from examples.demo_server.store import DemoError, Store

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
UNDOABLE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
IDEMPOTENT = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
OUTSIDE_WORLD = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)


def build_server(db_path: Path) -> MCPServer:
    store = Store(db_path)
    server = MCPServer("rollgate-demo-bank", instructions="A demo bank. Amounts are integer cents.")

    def guarded(call: Any) -> Any:
        try:
            return call()
        except DemoError as refusal:
            raise ToolError(str(refusal)) from None

    @server.tool(annotations=UNDOABLE)
    def create_customer(name: str, email: str) -> dict[str, Any]:
        """Create a customer. Undo with delete_customer."""
        return guarded(lambda: store.create_customer(name, email))

    @server.tool(annotations=DESTRUCTIVE)
    def delete_customer(customer_id: str) -> dict[str, Any]:
        """Delete a customer and their empty accounts; refused while an open account holds money."""
        return guarded(lambda: store.delete_customer(customer_id))

    @server.tool(annotations=READ)
    def get_customer(customer_id: str) -> dict[str, Any] | None:
        """Read one customer, or null when there is none."""
        return store.one("SELECT * FROM customers WHERE id = ?", customer_id)

    @server.tool(annotations=READ)
    def list_customers() -> list[dict[str, Any]]:
        """List all customers."""
        return store.all("SELECT * FROM customers ORDER BY created_at")

    @server.tool(annotations=UNDOABLE)
    def open_account(customer_id: str, currency: str = "EUR", initial_balance_cents: int = 0) -> dict[str, Any]:
        """Open an account for a customer. Undo with close_account."""
        return guarded(lambda: store.open_account(customer_id, currency, initial_balance_cents))

    @server.tool(annotations=IDEMPOTENT)
    def close_account(account_id: str) -> dict[str, Any]:
        """Close an account (its balance is kept on record); closing twice is refused."""
        return guarded(lambda: store.close_account(account_id))

    @server.tool(annotations=READ)
    def get_account(account_id: str) -> dict[str, Any] | None:
        """Read one account with its balance, or null when there is none."""
        return store.one("SELECT * FROM accounts WHERE id = ?", account_id)

    @server.tool(annotations=UNDOABLE)
    def deposit(account_id: str, amount_cents: int) -> dict[str, Any]:
        """Add money to an open account."""
        return guarded(lambda: store.deposit(account_id, amount_cents))

    @server.tool(annotations=UNDOABLE)
    def transfer(from_account_id: str, to_account_id: str, amount_cents: int, memo: str = "") -> dict[str, Any]:
        """Move money between two open accounts of one currency. Undo with refund."""
        return guarded(lambda: store.transfer(from_account_id, to_account_id, amount_cents, memo))

    @server.tool(annotations=UNDOABLE)
    def refund(transfer_id: str) -> dict[str, Any]:
        """Reverse a transfer: move the money back and mark it refunded; refunding twice is refused."""
        return guarded(lambda: store.refund(transfer_id))

    @server.tool(annotations=READ)
    def get_transfer(transfer_id: str) -> dict[str, Any] | None:
        """Read one transfer, or null when there is none."""
        return store.one("SELECT * FROM transfers WHERE id = ?", transfer_id)

    @server.tool(annotations=IDEMPOTENT)
    def update_record(key: str, value: dict[str, Any]) -> dict[str, Any]:
        """Set a record's value; returns the previous value, so it can be written back."""
        return store.update_record(key, value)

    @server.tool(annotations=READ)
    def read_record(key: str) -> dict[str, Any]:
        """Read a record (value null and version 0 when absent)."""
        return store.read_record(key)

    @server.tool(annotations=DESTRUCTIVE)
    def delete_record(key: str) -> dict[str, Any]:
        """Delete a record; returns its last value."""
        return guarded(lambda: store.delete_record(key))

    @server.tool(annotations=OUTSIDE_WORLD)
    def send_email(to: str, subject: str, body: str) -> dict[str, Any]:
        """Send an e-mail to the outside world. It cannot be recalled."""
        return guarded(lambda: store.send_email(to, subject, body))

    @server.tool(annotations=READ)
    def list_outbox() -> list[dict[str, Any]]:
        """List the e-mails sent so far."""
        return store.all("SELECT * FROM outbox ORDER BY sent_at")

    return server


def default_db() -> Path:
    return Path(os.environ.get("ROLLGATE_DEMO_DB", ".rollgate/demo.db"))
