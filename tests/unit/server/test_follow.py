"""The follower's pump over real socket pairs: a change of owner keeps the client's session."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from gateway.server.follow import REPLAY_ID, UNKNOWN_OUTCOME, Follower

pytestmark = pytest.mark.anyio


class Client:
    """The IDE: lines it sends, and what it was sent back."""

    def __init__(self) -> None:
        self.to_gateway_in, self._to_gateway = anyio.create_memory_object_stream[bytes](16)
        self.received_in, self.received = anyio.create_memory_object_stream[dict[str, Any]](16)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for line in self._to_gateway:
            yield line

    async def send(self, line: bytes) -> None:
        await self.received_in.send(json.loads(line))

    async def say(self, message: dict[str, Any]) -> None:
        await self.to_gateway_in.send(json.dumps(message).encode() + b"\n")


class Owners:
    """Each `connect` is a new owner: the follower gets one end of a socket pair, the test the other."""

    def __init__(self) -> None:
        self.sides_in, self.sides = anyio.create_memory_object_stream[BufferedByteReceiveStream](4)
        self.raw: list[SocketStream] = []

    async def connect(self) -> SocketStream:
        ours, theirs = socket.socketpair(socket.AF_UNIX)
        owner = await SocketStream.from_socket(theirs)
        self.raw.append(owner)
        await self.sides_in.send(BufferedByteReceiveStream(owner))
        return await SocketStream.from_socket(ours)


async def line_of(owner: BufferedByteReceiveStream) -> dict[str, Any]:
    return json.loads(await owner.receive_until(b"\n", 1 << 20))


async def answer(owners: Owners, index: int, message: dict[str, Any]) -> None:
    await owners.raw[index].send(json.dumps(message).encode() + b"\n")


async def test_a_new_owner_hears_the_handshake_again_and_a_request_in_flight_is_answered_unknown() -> None:
    client, owners = Client(), Owners()
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(Follower(client, owners.connect).run)
            first = await owners.sides.receive()
            await client.say(initialize)
            assert await line_of(first) == initialize
            await answer(owners, 0, {"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-11-25"}})
            assert (await client.received.receive())["id"] == 1
            await client.say({"jsonrpc": "2.0", "method": "notifications/initialized"})
            await client.say({"jsonrpc": "2.0", "id": "call", "method": "tools/call", "params": {"name": "slow"}})
            assert (await line_of(first))["method"] == "notifications/initialized"
            assert (await line_of(first))["id"] == "call"

            await owners.raw[0].aclose()  # the owner exits with the call in flight
            assert await client.received.receive() == {
                "jsonrpc": "2.0",
                "id": "call",
                "error": {"code": -32603, "message": UNKNOWN_OUTCOME},
            }
            second = await owners.sides.receive()
            replayed = await line_of(second)
            assert replayed == {**initialize, "id": REPLAY_ID}
            await answer(owners, 1, {"jsonrpc": "2.0", "id": REPLAY_ID, "result": {}})
            assert (await line_of(second))["method"] == "notifications/initialized"
            await client.say({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            assert (await line_of(second))["id"] == 2  # the client's session goes on, no new handshake
            await answer(owners, 1, {"jsonrpc": "2.0", "id": 2, "result": {"tools": []}})
            assert await client.received.receive() == {"jsonrpc": "2.0", "id": 2, "result": {"tools": []}}
            client.to_gateway_in.close()  # the client leaves: the follower ends
    assert client.received.statistics().current_buffer_used == 0  # the replayed answer never reached it


async def test_the_follower_ends_only_once_requests_sent_before_the_client_left_are_answered() -> None:
    client, owners = Client(), Owners()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(Follower(client, owners.connect).run)
            owner = await owners.sides.receive()
            await client.say({"jsonrpc": "2.0", "id": 7, "method": "tools/list"})
            client.to_gateway_in.close()
            assert (await line_of(owner))["id"] == 7
            await answer(owners, 0, {"jsonrpc": "2.0", "id": 7, "result": {"tools": []}})
            assert (await client.received.receive())["id"] == 7
