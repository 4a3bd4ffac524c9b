from __future__ import annotations

import anyio
import mcp_types as types

from gateway.server.events import MemoryEventStore


def message(n: int) -> types.JSONRPCMessage:
    return types.JSONRPCNotification(jsonrpc="2.0", method="notifications/progress", params={"n": n})


async def replay(store: MemoryEventStore, after: str) -> tuple[str | None, list[str]]:
    seen: list[str] = []

    async def send(event) -> None:
        seen.append(event.event_id)

    return await store.replay_events_after(after, send), seen


def test_replay_sends_only_later_events_of_the_same_stream() -> None:
    async def main() -> None:
        store = MemoryEventStore(capacity=10)
        first = await store.store_event("a", message(1))
        await store.store_event("b", message(2))
        third = await store.store_event("a", message(3))
        assert await replay(store, first) == ("a", [third])

    anyio.run(main)


def test_events_beyond_capacity_are_forgotten() -> None:
    async def main() -> None:
        store = MemoryEventStore(capacity=2)
        oldest = await store.store_event("a", message(1))
        await store.store_event("a", message(2))
        await store.store_event("a", message(3))
        assert await replay(store, oldest) == (None, [])

    anyio.run(main)
