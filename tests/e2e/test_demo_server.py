"""The demo bank as a real process over stdio: its flows, its refusals, its annotations, its database.

Each test starts `python -m examples.demo_server --db <tmp>` with the SDK v2 client, the way the
gateway launches it, and checks the SQLite file directly as well as the tool results.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 60


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Bank:
    """A connected demo server, with the two ways a call can end."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def ok(self, tool: str, **arguments: Any) -> Any:
        result = await self.client.call_tool(tool, arguments)
        assert not result.is_error, text_of(result)
        content = result.structured_content
        assert content is not None
        return content["result"] if set(content) == {"result"} else content

    async def refused(self, tool: str, **arguments: Any) -> str:
        result = await self.client.call_tool(tool, arguments)
        assert result.is_error and result.structured_content is None
        return text_of(result)


@asynccontextmanager
async def demo_bank(
    db: Path | None, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> AsyncIterator[Bank]:
    """`python -m examples.demo_server --db DB` from the repository root, or the command line in `args`."""
    command = args or ("-m", "examples.demo_server", "--db", str(db))
    params = StdioServerParameters(command=sys.executable, args=list(command), cwd=cwd, env=env)
    with anyio.fail_after(DEADLINE_SECONDS):
        async with Client(params, mode="legacy") as client:
            yield Bank(client)


def text_of(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


def rows(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


async def funded_pair(bank: Bank, cents: int = 10_000) -> tuple[str, str]:
    ada = await bank.ok("create_customer", name="Ada", email="ada@example.com")
    bob = await bank.ok("create_customer", name="Bob", email="bob@example.com")
    source = await bank.ok("open_account", customer_id=ada["customer_id"], initial_balance_cents=cents)
    target = await bank.ok("open_account", customer_id=bob["customer_id"])
    return source["account_id"], target["account_id"]


def balances(db: Path) -> dict[str, int]:
    return dict(rows(db, "SELECT id, balance_cents FROM accounts"))


READS, ADDS, REPLACES = (True, None, True, False), (False, False, False, False), (False, True, True, False)
EXPECTED_ANNOTATIONS = {  # tool: (readOnlyHint, destructiveHint, idempotentHint, openWorldHint)
    **dict.fromkeys(
        (
            "get_customer",
            "find_customer",
            "list_customers",
            "get_account",
            "get_transfer",
            "read_record",
            "list_outbox",
        ),
        READS,
    ),
    **dict.fromkeys(("create_customer", "open_account", "deposit", "transfer"), ADDS),
    **dict.fromkeys(("delete_customer", "close_account", "refund", "update_record", "delete_record"), REPLACES),
    "send_email": (False, True, False, True),
}


async def test_every_tool_is_listed_with_honest_annotations_a_description_and_schemas(tmp_path: Path) -> None:
    async with demo_bank(tmp_path / "demo.db") as bank:
        tools = {tool.name: tool for tool in (await bank.client.list_tools()).tools}
    assert set(tools) == set(EXPECTED_ANNOTATIONS)
    for name, tool in tools.items():
        hints = tool.annotations
        assert hints is not None
        found = (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint)
        assert found == EXPECTED_ANNOTATIONS[name], name
        assert tool.description and tool.output_schema, name
    assert tools["transfer"].input_schema["required"] == ["from_account_id", "to_account_id", "amount_cents"]
    assert tools["transfer"].input_schema["properties"]["amount_cents"]["type"] == "integer"


async def test_the_database_is_created_in_wal_mode_on_first_start(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "demo.db"
    async with demo_bank(db) as bank:
        await bank.ok("list_customers")
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    tables = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"customers", "accounts", "transfers", "records", "outbox"}


async def test_the_database_path_comes_from_the_environment_when_no_db_is_given(tmp_path: Path) -> None:
    db = tmp_path / "from-env.db"
    async with demo_bank(None, "-m", "examples.demo_server", env={"ROLLGATE_DEMO_DB": str(db)}) as bank:
        created = await bank.ok("create_customer", name="Ada", email="ada@example.com")
    assert rows(db, "SELECT id FROM customers") == [(created["id"],)]


async def test_the_directory_runs_as_a_script_from_anywhere_with_a_default_database(tmp_path: Path) -> None:
    async with demo_bank(None, str(ROOT / "examples" / "demo_server"), cwd=tmp_path) as bank:
        created = await bank.ok("create_customer", name="Ada", email="ada@example.com")
    assert rows(tmp_path / ".rollgate" / "demo.db", "SELECT id FROM customers") == [(created["id"],)]


async def test_a_created_customer_can_be_read_listed_and_deleted_again(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        ada = await bank.ok("create_customer", name="Ada", email="ada@example.com")
        assert ada["customer_id"] == ada["id"] and ada["id"].startswith("cus_")
        assert rows(db, "SELECT id, name, email FROM customers") == [(ada["id"], "Ada", "ada@example.com")]
        assert await bank.ok("get_customer", customer_id=ada["id"]) == ada
        assert await bank.ok("list_customers") == [ada]
        deleted = await bank.ok("delete_customer", customer_id=ada["id"])
        assert await bank.ok("get_customer", customer_id=ada["id"]) is None
        again = await bank.refused("delete_customer", customer_id=ada["id"])
    assert deleted["customer_id"] == ada["id"] and deleted["deleted_account_ids"] == []
    assert "no customer" in again
    assert rows(db, "SELECT * FROM customers") == []


async def test_a_customer_is_not_deleted_while_an_open_account_holds_money(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        ada = await bank.ok("create_customer", name="Ada", email="ada@example.com")
        funded = await bank.ok("open_account", customer_id=ada["id"], initial_balance_cents=500)
        empty = await bank.ok("open_account", customer_id=ada["id"], currency="USD")
        refusal = await bank.refused("delete_customer", customer_id=ada["id"])
        closed = await bank.ok("close_account", account_id=funded["id"])
        deleted = await bank.ok("delete_customer", customer_id=ada["id"])
    assert "still has money" in refusal and funded["id"] in refusal
    assert closed["status"] == "closed" and closed["balance_cents"] == 500  # closing keeps the balance on record
    assert sorted(deleted["deleted_account_ids"]) == sorted([funded["id"], empty["id"]])
    assert rows(db, "SELECT * FROM accounts") == [] and rows(db, "SELECT * FROM customers") == []


async def test_closing_an_account_twice_changes_nothing_and_a_closed_account_takes_no_money(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        source, target = await funded_pair(bank)
        first = await bank.ok("close_account", account_id=target)
        second = await bank.ok("close_account", account_id=target)
        deposit = await bank.refused("deposit", account_id=target, amount_cents=100)
        transfer = await bank.refused("transfer", from_account_id=source, to_account_id=target, amount_cents=100)
    assert first == second and first["status"] == "closed"
    assert "is closed" in deposit and "is closed" in transfer
    assert balances(db) == {source: 10_000, target: 0}


async def test_a_transfer_moves_money_and_its_refund_moves_it_back(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        source, target = await funded_pair(bank)
        moved = await bank.ok("transfer", from_account_id=source, to_account_id=target, amount_cents=2_500, memo="rent")
        assert balances(db) == {source: 7_500, target: 2_500}
        refunded = await bank.ok("refund", transfer_id=moved["transfer_id"])
        read = await bank.ok("get_transfer", transfer_id=moved["transfer_id"])
    assert moved["id"] == moved["transfer_id"] and moved["id"].startswith("trf_") and moved["status"] == "completed"
    assert refunded == read and read["status"] == "refunded" and read["refunded_by"].startswith("rfd_")
    assert balances(db) == {source: 10_000, target: 0}
    assert rows(db, "SELECT from_account, to_account, amount_cents, memo, status FROM transfers") == [
        (source, target, 2_500, "rent", "refunded")
    ]


async def test_refunding_twice_or_beyond_what_the_payee_holds_is_a_tool_error_and_moves_no_money(
    tmp_path: Path,
) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        source, target = await funded_pair(bank)
        moved = await bank.ok("transfer", from_account_id=source, to_account_id=target, amount_cents=1_000)
        spent = await bank.ok("transfer", from_account_id=source, to_account_id=target, amount_cents=1_000)
        await bank.ok("refund", transfer_id=moved["id"])
        twice = await bank.refused("refund", transfer_id=moved["id"])
        await bank.ok("transfer", from_account_id=target, to_account_id=source, amount_cents=600)
        uncovered = await bank.refused("refund", transfer_id=spent["id"])
        unknown = await bank.refused("refund", transfer_id="trf_nothing")
    assert "already refunded" in twice and "no transfer 'trf_nothing'" in unknown
    assert "insufficient funds" in uncovered
    assert balances(db) == {source: 9_600, target: 400}
    assert rows(db, "SELECT id, status FROM transfers WHERE amount_cents = 1000 ORDER BY status") == [
        (spent["id"], "completed"),
        (moved["id"], "refunded"),
    ]


async def test_bad_transfers_are_tool_errors_that_change_nothing(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        source, target = await funded_pair(bank, cents=1_000)
        bob = (await bank.ok("get_account", account_id=target))["customer_id"]
        dollars = await bank.ok("open_account", customer_id=bob, currency="USD")
        closed = await bank.ok("open_account", customer_id=bob)
        await bank.ok("close_account", account_id=closed["id"])
        cases = {
            "insufficient funds": (source, target, 1_001),
            "amount must be positive": (source, target, 0),
            "amount must be positive, got -5": (source, target, -5),
            "no account 'acc_nowhere'": (source, "acc_nowhere", 10),
            "is closed": (source, closed["id"], 10),
            "different currencies": (source, dollars["id"], 10),
            "same account": (source, source, 10),
        }
        for reason, (payer, payee, cents) in cases.items():
            refusal = await bank.refused("transfer", from_account_id=payer, to_account_id=payee, amount_cents=cents)
            assert reason in refusal, (reason, refusal)
    assert balances(db) == {source: 1_000, target: 0, dollars["id"]: 0, closed["id"]: 0}
    assert rows(db, "SELECT * FROM transfers") == []


async def test_update_record_returns_the_previous_value_and_a_new_version(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        first = await bank.ok("update_record", key="profile", value={"tier": "gold"})
        second = await bank.ok("update_record", key="profile", value={"tier": "platinum", "since": 2024})
        same = await bank.ok("update_record", key="profile", value={"since": 2024, "tier": "platinum"})
        read = await bank.ok("read_record", key="profile")
    assert (first["previous"], first["version"]) == (None, 1)
    assert (second["previous"], second["version"]) == ({"tier": "gold"}, 2)
    assert same["version"] == 2  # writing the same value again changes nothing
    assert read == {"key": "profile", "value": {"tier": "platinum", "since": 2024}, "version": 2}
    assert rows(db, "SELECT key, value, version FROM records") == [("profile", '{"since":2024,"tier":"platinum"}', 2)]


async def test_writing_back_the_previous_value_undoes_an_update_and_a_creation(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        await bank.ok("update_record", key="kept", value={"v": 1})
        changed = await bank.ok("update_record", key="kept", value={"v": 2})
        created = await bank.ok("update_record", key="new", value={"v": 3})
        await bank.ok("update_record", key="kept", value=changed["previous"])
        await bank.ok("update_record", key="new", value=created["previous"])
        missing = await bank.ok("read_record", key="new")
    assert missing == {"key": "new", "value": None, "version": 0}
    assert rows(db, "SELECT key, value FROM records") == [("kept", '{"v":1}')]


async def test_a_deleted_record_returns_its_last_value_and_deleting_it_again_is_an_error(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        await bank.ok("update_record", key="k", value={"a": [1, 2]})
        deleted = await bank.ok("delete_record", key="k")
        again = await bank.refused("delete_record", key="k")
    assert deleted == {"key": "k", "value": {"a": [1, 2]}, "version": 1, "deleted": True}
    assert "no record 'k'" in again
    assert rows(db, "SELECT * FROM records") == []


async def test_a_sent_email_lands_in_the_outbox_for_good(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    async with demo_bank(db) as bank:
        sent = await bank.ok("send_email", to="bob@example.com", subject="Welcome", body="Hello Bob")
        outbox = await bank.ok("list_outbox")
        bad = await bank.refused("send_email", to="not an address", subject="x", body="y")
        tools = {tool.name for tool in (await bank.client.list_tools()).tools}
    assert sent["id"].startswith("msg_") and outbox == [sent]
    assert "not an e-mail address" in bad
    assert rows(db, "SELECT recipient, subject, body FROM outbox") == [("bob@example.com", "Welcome", "Hello Bob")]
    assert not {name for name in tools if "email" in name or "outbox" in name} - {"send_email", "list_outbox"}


async def test_two_server_processes_on_one_database_never_overdraw_an_account(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    outcomes: list[bool] = []
    async with demo_bank(db) as first, demo_bank(db) as second:
        source, target = await funded_pair(first, cents=1_000)

        async def pay(bank: Bank) -> None:
            result = await bank.client.call_tool(
                "transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": 100}
            )
            outcomes.append(not result.is_error)

        async with anyio.create_task_group() as group:
            for n in range(30):
                group.start_soon(pay, (first, second)[n % 2])
    assert outcomes.count(True) == 10
    assert balances(db) == {source: 0, target: 1_000}
    assert rows(db, "SELECT count(*), sum(amount_cents) FROM transfers") == [(10, 1_000)]


async def test_a_database_from_the_first_schema_gains_the_refund_columns(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE transfers (id TEXT PRIMARY KEY, from_account TEXT NOT NULL, to_account TEXT NOT NULL, "
            "amount_cents INTEGER NOT NULL, memo TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL)"
        )
    async with demo_bank(db) as bank:
        source, target = await funded_pair(bank)
        moved = await bank.ok("transfer", from_account_id=source, to_account_id=target, amount_cents=10)
        refunded = await bank.ok("refund", transfer_id=moved["id"])
    assert refunded["refunded_by"].startswith("rfd_")
