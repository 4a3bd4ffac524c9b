"""Customers, accounts and transfers of the demo bank, each operation one SQLite transaction.

Every mutation has an inverse an agent (or the gateway's rollback) can call: create/delete customer,
open/close account, transfer/refund. `deposit` has none on purpose: money from outside the bank is
a real-world effect. Closing an account keeps its balance on record (nothing is zeroed or paid
out); a closed account takes no money in or out, and deleting its customer deletes it too.
"""

from __future__ import annotations

import re
import sqlite3
import time

from examples.demo_server.errors import (
    AccountClosedError,
    AlreadyRefundedError,
    CurrencyMismatchError,
    CustomerHasFundsError,
    InsufficientFundsError,
    InvalidArgumentError,
    NotFoundError,
)
from examples.demo_server.models import Account, Customer, DeletedCustomer, Transfer
from examples.demo_server.outbox import require_address
from examples.demo_server.store import Database, new_id

__all__ = ["Bank"]

CURRENCY = re.compile(r"[A-Z]{3}")
"""ISO 4217 alphabetic codes: three capital letters."""


class Bank:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- customers -------------------------------------------------------------------------------

    def create_customer(self, name: str, email: str) -> Customer:
        if not name.strip():
            raise InvalidArgumentError("a customer needs a name")
        require_address(email)
        customer_id = new_id("cus")
        with self._db.write() as db:
            db.execute(
                "INSERT INTO customers (id, name, email, created_at) VALUES (?, ?, ?, ?)",
                (customer_id, name, email, time.time()),
            )
            return _customer(db, customer_id)

    def delete_customer(self, customer_id: str) -> DeletedCustomer:
        with self._db.write() as db:
            customer = _customer(db, customer_id)
            accounts = db.execute("SELECT * FROM accounts WHERE customer_id = ? ORDER BY id", (customer_id,)).fetchall()
            for account in accounts:
                if account["status"] == "open" and account["balance_cents"] != 0:
                    raise CustomerHasFundsError(customer_id, account["id"])
            db.execute("DELETE FROM accounts WHERE customer_id = ?", (customer_id,))
            db.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
        return DeletedCustomer(**customer.model_dump(), deleted_account_ids=[a["id"] for a in accounts])

    def get_customer(self, customer_id: str) -> Customer | None:
        with self._db.read() as db:
            row = db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        return None if row is None else _customer_of(row)

    def find_customer(self, email: str) -> Customer | None:
        """The newest customer with this e-mail address (what a caller that lost an answer looks up)."""
        with self._db.read() as db:
            row = db.execute(
                "SELECT * FROM customers WHERE email = ? ORDER BY created_at DESC, id DESC LIMIT 1", (email,)
            ).fetchone()
        return None if row is None else _customer_of(row)

    def list_customers(self) -> list[Customer]:
        with self._db.read() as db:
            rows = db.execute("SELECT * FROM customers ORDER BY created_at, id").fetchall()
        return [_customer_of(row) for row in rows]

    # -- accounts --------------------------------------------------------------------------------

    def open_account(self, customer_id: str, currency: str, initial_balance_cents: int) -> Account:
        if not CURRENCY.fullmatch(currency):
            raise InvalidArgumentError(f"not an ISO 4217 currency code: {currency!r}")
        if initial_balance_cents < 0:
            raise InvalidArgumentError("initial balance cannot be negative")
        account_id = new_id("acc")
        with self._db.write() as db:
            _customer(db, customer_id)
            db.execute(
                "INSERT INTO accounts (id, customer_id, currency, balance_cents, status) VALUES (?, ?, ?, ?, 'open')",
                (account_id, customer_id, currency, initial_balance_cents),
            )
            return _account(db, account_id)

    def close_account(self, account_id: str) -> Account:
        with self._db.write() as db:
            _account(db, account_id)
            db.execute("UPDATE accounts SET status = 'closed' WHERE id = ?", (account_id,))
            return _account(db, account_id)

    def get_account(self, account_id: str) -> Account | None:
        with self._db.read() as db:
            row = db.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return None if row is None else _account_of(row)

    def deposit(self, account_id: str, amount_cents: int) -> Account:
        _require_positive(amount_cents)
        with self._db.write() as db:
            _open_account(db, account_id)
            _credit(db, account_id, amount_cents)
            return _account(db, account_id)

    # -- money -----------------------------------------------------------------------------------

    def transfer(self, from_account_id: str, to_account_id: str, amount_cents: int, memo: str) -> Transfer:
        _require_positive(amount_cents)
        if from_account_id == to_account_id:
            raise InvalidArgumentError("cannot transfer to the same account")
        transfer_id = new_id("trf")
        with self._db.write() as db:
            _move(db, from_account_id, to_account_id, amount_cents)
            db.execute(
                "INSERT INTO transfers (id, from_account, to_account, amount_cents, memo, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'completed', ?)",
                (transfer_id, from_account_id, to_account_id, amount_cents, memo, time.time()),
            )
            return _transfer(db, transfer_id)

    def refund(self, transfer_id: str) -> Transfer:
        """Move the money back from the payee; the transfer stays on record, marked refunded."""
        with self._db.write() as db:
            original = _transfer(db, transfer_id)
            if original.refunded_by is not None or original.status == "refunded":
                raise AlreadyRefundedError(transfer_id, original.refunded_by or "an earlier refund")
            _move(db, original.to_account_id, original.from_account_id, original.amount_cents)
            db.execute(
                "UPDATE transfers SET status = 'refunded', refunded_by = ?, refunded_at = ? WHERE id = ?",
                (new_id("rfd"), time.time(), transfer_id),
            )
            return _transfer(db, transfer_id)

    def get_transfer(self, transfer_id: str) -> Transfer | None:
        with self._db.read() as db:
            row = db.execute("SELECT * FROM transfers WHERE id = ?", (transfer_id,)).fetchone()
        return None if row is None else _transfer_of(row)


def _require_positive(amount_cents: int) -> None:
    if amount_cents <= 0:
        raise InvalidArgumentError(f"amount must be positive, got {amount_cents} cents")


def _move(db: sqlite3.Connection, source_id: str, target_id: str, amount_cents: int) -> None:
    """Move money between two open accounts of one currency, or refuse and change nothing."""
    source, target = _open_account(db, source_id), _open_account(db, target_id)
    if source.currency != target.currency:
        raise CurrencyMismatchError(source.currency, target.currency)
    if source.balance_cents < amount_cents:
        raise InsufficientFundsError(source_id, source.balance_cents, amount_cents)
    db.execute("UPDATE accounts SET balance_cents = balance_cents - ? WHERE id = ?", (amount_cents, source_id))
    _credit(db, target_id, amount_cents)


def _credit(db: sqlite3.Connection, account_id: str, amount_cents: int) -> None:
    db.execute("UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?", (amount_cents, account_id))


def _customer(db: sqlite3.Connection, customer_id: str) -> Customer:
    row = db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if row is None:
        raise NotFoundError("customer", customer_id)
    return _customer_of(row)


def _account(db: sqlite3.Connection, account_id: str) -> Account:
    row = db.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        raise NotFoundError("account", account_id)
    return _account_of(row)


def _open_account(db: sqlite3.Connection, account_id: str) -> Account:
    account = _account(db, account_id)
    if account.status != "open":
        raise AccountClosedError(account_id)
    return account


def _transfer(db: sqlite3.Connection, transfer_id: str) -> Transfer:
    row = db.execute("SELECT * FROM transfers WHERE id = ?", (transfer_id,)).fetchone()
    if row is None:
        raise NotFoundError("transfer", transfer_id)
    return _transfer_of(row)


def _customer_of(row: sqlite3.Row) -> Customer:
    return Customer(
        id=row["id"], customer_id=row["id"], name=row["name"], email=row["email"], created_at=row["created_at"]
    )


def _account_of(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        account_id=row["id"],
        customer_id=row["customer_id"],
        currency=row["currency"],
        balance_cents=row["balance_cents"],
        status=row["status"],
    )


def _transfer_of(row: sqlite3.Row) -> Transfer:
    return Transfer(
        id=row["id"],
        transfer_id=row["id"],
        from_account_id=row["from_account"],
        to_account_id=row["to_account"],
        amount_cents=row["amount_cents"],
        memo=row["memo"],
        status=row["status"],
        created_at=row["created_at"],
        refunded_by=row["refunded_by"],
        refunded_at=row["refunded_at"],
    )
