"""The demo bank's refusals, raised by the store modules and mapped once, in `server.py`, to MCP tool errors.

A refusal is an answer for the agent (`isError: true` with the message), not a crash of the server.

    DemoError
    ├── NotFoundError             an id or record key that does not exist
    ├── InvalidArgumentError      a request that can never succeed (amount <= 0, bad currency or address)
    └── RefusedError              a well-formed request the current state forbids
        ├── AccountClosedError        money in or out of a closed account
        ├── CurrencyMismatchError     a transfer between accounts of two currencies
        ├── InsufficientFundsError    a debit larger than the balance
        ├── AlreadyRefundedError      refunding a transfer twice
        └── CustomerHasFundsError     deleting a customer whose open account still holds money
"""

from __future__ import annotations

__all__ = [
    "AccountClosedError",
    "AlreadyRefundedError",
    "CurrencyMismatchError",
    "CustomerHasFundsError",
    "DemoError",
    "InsufficientFundsError",
    "InvalidArgumentError",
    "NotFoundError",
    "RefusedError",
]


class DemoError(Exception):
    """A domain refusal; its message is what the agent reads."""


class NotFoundError(DemoError):
    """The id or key names nothing."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"no {kind} {key!r}")


class InvalidArgumentError(DemoError):
    """The arguments are wrong whatever the state: retrying the same call cannot succeed."""


class RefusedError(DemoError):
    """The arguments are fine but the current state forbids the call."""


class AccountClosedError(RefusedError):
    def __init__(self, account_id: str) -> None:
        super().__init__(f"account {account_id!r} is closed")


class CurrencyMismatchError(RefusedError):
    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"accounts have different currencies: {source} and {target}")


class InsufficientFundsError(RefusedError):
    def __init__(self, account_id: str, balance_cents: int, amount_cents: int) -> None:
        super().__init__(f"insufficient funds in {account_id!r}: balance {balance_cents} < {amount_cents} cents")


class AlreadyRefundedError(RefusedError):
    def __init__(self, transfer_id: str, refund_id: str) -> None:
        super().__init__(f"transfer {transfer_id!r} was already refunded (by {refund_id!r})")


class CustomerHasFundsError(RefusedError):
    def __init__(self, customer_id: str, account_id: str) -> None:
        super().__init__(f"customer {customer_id!r} still has money in open account {account_id!r}")
