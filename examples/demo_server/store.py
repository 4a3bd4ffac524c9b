"""SQLite state of the demo tool server: customers, accounts, transfers, records, outbox.

Several server processes may share one database file (the gateway opens one upstream session per
client session), so every mutation runs in a `BEGIN IMMEDIATE` transaction with a busy timeout.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id), currency TEXT NOT NULL,
    balance_cents INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('open', 'closed')));
CREATE TABLE IF NOT EXISTS transfers (
    id TEXT PRIMARY KEY, from_account TEXT NOT NULL, to_account TEXT NOT NULL,
    amount_cents INTEGER NOT NULL, memo TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, sent_at REAL NOT NULL);
"""


class DemoError(Exception):
    """A domain refusal (unknown id, insufficient funds, ...), returned to the agent as a tool error."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(SCHEMA)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = self._db.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in self._db.execute(sql, args).fetchall()]

    def need(self, sql: str, *args: Any, what: str) -> dict[str, Any]:
        row = self.one(sql, *args)
        if row is None:
            raise DemoError(f"no {what} {args[0]!r}")
        return row

    # -- customers ---------------------------------------------------------------------------

    def create_customer(self, name: str, email: str) -> dict[str, Any]:
        customer = {"id": new_id("cus"), "name": name, "email": email, "created_at": time.time()}
        with self.write() as db:
            db.execute("INSERT INTO customers VALUES (:id, :name, :email, :created_at)", customer)
        return customer

    def delete_customer(self, customer_id: str) -> dict[str, Any]:
        with self.write() as db:
            customer = self.need("SELECT * FROM customers WHERE id = ?", customer_id, what="customer")
            funded = self.one(
                "SELECT id FROM accounts WHERE customer_id = ? AND status = 'open' AND balance_cents != 0", customer_id
            )
            if funded is not None:
                raise DemoError(f"customer {customer_id!r} still has money in open account {funded['id']!r}")
            db.execute("DELETE FROM accounts WHERE customer_id = ?", (customer_id,))
            db.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
        return customer

    # -- accounts ----------------------------------------------------------------------------

    def open_account(self, customer_id: str, currency: str, initial_balance_cents: int) -> dict[str, Any]:
        if initial_balance_cents < 0:
            raise DemoError("initial balance cannot be negative")
        with self.write() as db:
            self.need("SELECT id FROM customers WHERE id = ?", customer_id, what="customer")
            account = {
                "id": new_id("acc"),
                "customer_id": customer_id,
                "currency": currency,
                "balance_cents": initial_balance_cents,
                "status": "open",
            }
            db.execute("INSERT INTO accounts VALUES (:id, :customer_id, :currency, :balance_cents, :status)", account)
        return account

    def close_account(self, account_id: str) -> dict[str, Any]:
        with self.write() as db:
            account = self.need("SELECT * FROM accounts WHERE id = ?", account_id, what="account")
            if account["status"] == "closed":
                raise DemoError(f"account {account_id!r} is already closed")
            db.execute("UPDATE accounts SET status = 'closed' WHERE id = ?", (account_id,))
        return {**account, "status": "closed"}

    def deposit(self, account_id: str, amount_cents: int) -> dict[str, Any]:
        if amount_cents <= 0:
            raise DemoError("amount must be positive")
        with self.write() as db:
            account = self._open_account(account_id)
            db.execute("UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?", (amount_cents, account_id))
        return {**account, "balance_cents": account["balance_cents"] + amount_cents}

    def _open_account(self, account_id: str) -> dict[str, Any]:
        account = self.need("SELECT * FROM accounts WHERE id = ?", account_id, what="account")
        if account["status"] != "open":
            raise DemoError(f"account {account_id!r} is closed")
        return account

    # -- money -------------------------------------------------------------------------------

    def transfer(self, source: str, target: str, amount_cents: int, memo: str) -> dict[str, Any]:
        if amount_cents <= 0:
            raise DemoError("amount must be positive")
        if source == target:
            raise DemoError("cannot transfer to the same account")
        with self.write() as db:
            debit, credit = self._open_account(source), self._open_account(target)
            if debit["currency"] != credit["currency"]:
                raise DemoError("accounts have different currencies")
            if debit["balance_cents"] < amount_cents:
                raise DemoError(f"insufficient funds in {source!r}: {debit['balance_cents']} < {amount_cents}")
            transfer = {
                "id": new_id("trf"),
                "from_account": source,
                "to_account": target,
                "amount_cents": amount_cents,
                "memo": memo,
                "status": "completed",
                "created_at": time.time(),
            }
            self._move(db, source, target, amount_cents)
            db.execute(
                "INSERT INTO transfers VALUES (:id, :from_account, :to_account, :amount_cents, :memo, "
                ":status, :created_at)",
                transfer,
            )
        return transfer

    def refund(self, transfer_id: str) -> dict[str, Any]:
        with self.write() as db:
            transfer = self.need("SELECT * FROM transfers WHERE id = ?", transfer_id, what="transfer")
            if transfer["status"] == "refunded":
                raise DemoError(f"transfer {transfer_id!r} was already refunded")
            payee = self._open_account(transfer["to_account"])
            if payee["balance_cents"] < transfer["amount_cents"]:
                raise DemoError(f"account {payee['id']!r} no longer holds the transferred amount")
            self._move(db, transfer["to_account"], transfer["from_account"], transfer["amount_cents"])
            db.execute("UPDATE transfers SET status = 'refunded' WHERE id = ?", (transfer_id,))
        return {**transfer, "status": "refunded"}

    @staticmethod
    def _move(db: sqlite3.Connection, source: str, target: str, amount: int) -> None:
        db.execute("UPDATE accounts SET balance_cents = balance_cents - ? WHERE id = ?", (amount, source))
        db.execute("UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?", (amount, target))

    # -- records -----------------------------------------------------------------------------

    def update_record(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        with self.write() as db:
            old = self.one("SELECT * FROM records WHERE key = ?", key)
            version = (old["version"] if old else 0) + 1
            db.execute(
                "INSERT INTO records VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "version = excluded.version",
                (key, json.dumps(value), version),
            )
        previous = json.loads(old["value"]) if old else None
        return {"key": key, "value": value, "version": version, "previous": previous}

    def read_record(self, key: str) -> dict[str, Any]:
        row = self.one("SELECT * FROM records WHERE key = ?", key)
        if row is None:
            return {"key": key, "value": None, "version": 0}
        return {"key": key, "value": json.loads(row["value"]), "version": row["version"]}

    def delete_record(self, key: str) -> dict[str, Any]:
        with self.write() as db:
            row = self.need("SELECT * FROM records WHERE key = ?", key, what="record")
            db.execute("DELETE FROM records WHERE key = ?", (key,))
        return {"key": key, "value": json.loads(row["value"]), "deleted": True}

    # -- e-mail ------------------------------------------------------------------------------

    def send_email(self, to: str, subject: str, body: str) -> dict[str, Any]:
        if "@" not in to:
            raise DemoError(f"not an e-mail address: {to!r}")
        mail = {"id": new_id("msg"), "recipient": to, "subject": subject, "body": body, "sent_at": time.time()}
        with self.write() as db:
            db.execute("INSERT INTO outbox VALUES (:id, :recipient, :subject, :body, :sent_at)", mail)
        return mail
