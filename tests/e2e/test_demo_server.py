"""The demo bank behind the gateway: its flows, refusals and honest annotations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.e2e.helpers import http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def demo_upstream(db: Path) -> str:
    return f'[[upstreams]]\nname = "demo"\ncommand = "python"\nargs = ["-m", "examples.demo_server", "--db", "{db}"]\n'


async def test_demo_flows_mutate_the_database_and_inverse_tools_undo_them(start_gateway, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    gateway = start_gateway(demo_upstream(db))
    async with http_client(gateway.url, TOKEN) as client:

        async def call(tool: str, **arguments):
            result = await client.call_tool(f"demo__{tool}", arguments)
            assert not result.is_error, text_of(result)
            return result.structured_content

        alice = await call("create_customer", name="Alice", email="alice@example.com")
        bob = await call("create_customer", name="Bob", email="bob@example.com")
        a = await call("open_account", customer_id=alice["id"], initial_balance_cents=10_000)
        b = await call("open_account", customer_id=bob["id"])
        moved = await call("transfer", from_account_id=a["id"], to_account_id=b["id"], amount_cents=2_500)
        assert (await call("get_account", account_id=b["id"]))["result"]["balance_cents"] == 2_500
        await call("refund", transfer_id=moved["id"])
        twice = await client.call_tool("demo__refund", {"transfer_id": moved["id"]})
        broke = await client.call_tool(
            "demo__transfer", {"from_account_id": b["id"], "to_account_id": a["id"], "amount_cents": 1}
        )
        first = await call("update_record", key="k", value={"v": 1})
        second = await call("update_record", key="k", value={"v": 2})
        await call("send_email", to="bob@example.com", subject="hi", body="hello")
    assert twice.is_error and "already refunded" in text_of(twice)
    assert broke.is_error and "insufficient funds" in text_of(broke)
    assert first["previous"] is None and second["previous"] == {"v": 1} and second["version"] == 2
    with sqlite3.connect(db) as conn:
        balances = dict(conn.execute("SELECT id, balance_cents FROM accounts").fetchall())
        assert balances == {a["id"]: 10_000, b["id"]: 0}
        assert conn.execute("SELECT status FROM transfers").fetchall() == [("refunded",)]
        assert conn.execute("SELECT recipient FROM outbox").fetchall() == [("bob@example.com",)]


async def test_demo_tools_carry_honest_annotations(start_gateway, tmp_path: Path) -> None:
    gateway = start_gateway(demo_upstream(tmp_path / "demo.db"))
    async with http_client(gateway.url, TOKEN) as client:
        tools = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
    assert tools["demo__get_account"].read_only_hint is True
    assert tools["demo__transfer"].destructive_hint is False and tools["demo__transfer"].read_only_hint is False
    assert tools["demo__send_email"].destructive_hint is True and tools["demo__send_email"].open_world_hint is True
    assert tools["demo__delete_customer"].destructive_hint is True
