"""The demo bank as an MCP server (SDK v2 `MCPServer`, stdio): the upstream Rollgate fronts in demos.

Each tool is a thin edge over `Bank`, `Records` and `Outbox`: typed parameters (the SDK derives the
inputSchema, descriptions included), a pydantic return type (the outputSchema and structured
content), and MCP tool annotations that tell the truth about the side effect (MCP spec 2025-03-26 on,
"Tool annotations"): reads are read-only; create/open/transfer/deposit only add; delete/close/
refund/update overwrite or remove; `send_email` reaches the outside world and cannot be undone.

Refusals (`DemoError`) become tool errors here, and only here: the agent gets `isError: true` with
the reason. Anything else is a bug and the SDK reports it as a crash.

Launch: `python -m examples.demo_server --db PATH` from the repository root (see `__main__.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from examples.demo_server.bank import Bank
from examples.demo_server.errors import DemoError
from examples.demo_server.models import (
    Account,
    Customer,
    DeletedCustomer,
    DeletedRecord,
    Email,
    Record,
    RecordUpdate,
    Transfer,
)
from examples.demo_server.outbox import Outbox
from examples.demo_server.records import Records
from examples.demo_server.store import Database

__all__ = ["build_server"]

READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
ADDS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
"""Each call adds something new (a customer, an account, a transfer, money); an inverse tool undoes it."""
REPLACES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)
"""Overwrites or removes state; calling it again with the same arguments changes nothing more."""
OUTSIDE_WORLD = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)
"""Reaches beyond the bank; every call is a new, irrevocable effect."""

CustomerId = Annotated[str, Field(description="A customer id (cus_…)")]
AccountId = Annotated[str, Field(description="An account id (acc_…)")]
TransferId = Annotated[str, Field(description="A transfer id (trf_…)")]
Cents = Annotated[int, Field(description="An amount in integer cents: 1050 is 10.50")]
RecordKey = Annotated[str, Field(description="The record's key")]
JsonObject = dict[str, Any]


@contextmanager
def refusals_as_tool_errors() -> Iterator[None]:
    """The one place a domain refusal becomes an MCP tool error (`isError: true`, message for the agent)."""
    try:
        yield
    except DemoError as refusal:
        raise ToolError(str(refusal)) from refusal


def build_server(db_path: Path) -> MCPServer:
    database = Database(db_path)
    server = MCPServer(
        "rollgate-demo-bank",
        title="Rollgate demo bank",
        version="1.0.0",
        instructions="A small demo bank. Amounts are integer cents; ids are prefixed (cus_, acc_, trf_).",
    )
    bank = Bank(database)
    _customer_tools(server, bank)
    _account_tools(server, bank)
    _money_tools(server, bank)
    _record_tools(server, Records(database))
    _email_tools(server, Outbox(database))
    return server


def _customer_tools(server: MCPServer, bank: Bank) -> None:
    @server.tool(title="Create customer", annotations=ADDS)
    def create_customer(
        name: Annotated[str, Field(description="Full name")], email: Annotated[str, Field(description="E-mail address")]
    ) -> Customer:
        """Create a customer and return it with its new customer_id. Undo with delete_customer."""
        with refusals_as_tool_errors():
            return bank.create_customer(name, email)

    @server.tool(title="Delete customer", annotations=REPLACES)
    def delete_customer(customer_id: CustomerId) -> DeletedCustomer:
        """Delete a customer and their accounts. Refused while any open account of theirs holds money."""
        with refusals_as_tool_errors():
            return bank.delete_customer(customer_id)

    @server.tool(title="Get customer", annotations=READ)
    def get_customer(customer_id: CustomerId) -> Customer | None:
        """Read one customer; the result is null when there is no such customer."""
        return bank.get_customer(customer_id)

    @server.tool(title="Find customer", annotations=READ)
    def find_customer(email: Annotated[str, Field(description="E-mail address")]) -> Customer | None:
        """The newest customer with this e-mail address; null when there is none."""
        return bank.find_customer(email)

    @server.tool(title="List customers", annotations=READ)
    def list_customers() -> list[Customer]:
        """List all customers, oldest first."""
        return bank.list_customers()


def _account_tools(server: MCPServer, bank: Bank) -> None:
    @server.tool(title="Open account", annotations=ADDS)
    def open_account(
        customer_id: CustomerId,
        currency: Annotated[str, Field(description="ISO 4217 code, e.g. EUR")] = "EUR",
        initial_balance_cents: Annotated[int, Field(description="Opening deposit in integer cents")] = 0,
    ) -> Account:
        """Open an account for a customer, optionally with an opening deposit. Undo with close_account."""
        with refusals_as_tool_errors():
            return bank.open_account(customer_id, currency, initial_balance_cents)

    @server.tool(title="Close account", annotations=REPLACES)
    def close_account(account_id: AccountId) -> Account:
        """Close an account: it takes no more money in or out. Its balance stays on record (nothing is
        paid out or zeroed). Closing a closed account changes nothing."""
        with refusals_as_tool_errors():
            return bank.close_account(account_id)

    @server.tool(title="Get account", annotations=READ)
    def get_account(account_id: AccountId) -> Account | None:
        """Read one account with its balance; the result is null when there is no such account."""
        return bank.get_account(account_id)

    @server.tool(title="Deposit", annotations=ADDS)
    def deposit(account_id: AccountId, amount_cents: Cents) -> Account:
        """Pay money from outside the bank into an open account; returns the account with its new balance."""
        with refusals_as_tool_errors():
            return bank.deposit(account_id, amount_cents)


def _money_tools(server: MCPServer, bank: Bank) -> None:
    @server.tool(title="Transfer money", annotations=ADDS)
    def transfer(
        from_account_id: AccountId,
        to_account_id: AccountId,
        amount_cents: Cents,
        memo: Annotated[str, Field(description="Free text for the statement")] = "",
    ) -> Transfer:
        """Move money between two open accounts of one currency; returns the transfer with its transfer_id.
        Refused on insufficient funds, closed or unknown accounts and non-positive amounts. Undo with refund."""
        with refusals_as_tool_errors():
            return bank.transfer(from_account_id, to_account_id, amount_cents, memo)

    @server.tool(title="Refund transfer", annotations=REPLACES)
    def refund(transfer_id: TransferId) -> Transfer:
        """Reverse a transfer: move the money back and mark the transfer refunded. Refunding twice is refused,
        and so is a refund the payee can no longer cover."""
        with refusals_as_tool_errors():
            return bank.refund(transfer_id)

    @server.tool(title="Get transfer", annotations=READ)
    def get_transfer(transfer_id: TransferId) -> Transfer | None:
        """Read one transfer; the result is null when there is no such transfer."""
        return bank.get_transfer(transfer_id)


def _record_tools(server: MCPServer, records: Records) -> None:
    @server.tool(title="Update record", annotations=REPLACES)
    def update_record(
        key: RecordKey,
        value: Annotated[JsonObject | None, Field(description="The new JSON object; null deletes the record")],
    ) -> RecordUpdate:
        """Set a record's value and return the previous one (write it back to undo) and the new version.
        Writing the value the record already has changes nothing."""
        with refusals_as_tool_errors():
            return records.update(key, value)

    @server.tool(title="Read record", annotations=READ)
    def read_record(key: RecordKey) -> Record:
        """Read a record; value is null and version 0 when there is no such record."""
        return records.read(key)

    @server.tool(title="Delete record", annotations=REPLACES)
    def delete_record(key: RecordKey) -> DeletedRecord:
        """Delete a record and return its last value (write it back with update_record to undo)."""
        with refusals_as_tool_errors():
            return records.delete(key)


def _email_tools(server: MCPServer, outbox: Outbox) -> None:
    @server.tool(title="Send e-mail", annotations=OUTSIDE_WORLD)
    def send_email(
        to: Annotated[str, Field(description="Recipient address")],
        subject: Annotated[str, Field(description="Subject line")],
        body: Annotated[str, Field(description="Plain-text body")],
    ) -> Email:
        """Send an e-mail to someone outside the bank. It cannot be recalled: there is no undo."""
        with refusals_as_tool_errors():
            return outbox.send(to, subject, body)

    @server.tool(title="List outbox", annotations=READ)
    def list_outbox() -> list[Email]:
        """List the e-mails sent so far, oldest first."""
        return outbox.list()
