"""A stdio client forwarded, line by line, to the owner of the state directory (`ownership.py`).

Lines pass unchanged both ways; the follower reads just enough of them to survive a change of
owner. It keeps the client's `initialize` request and `notifications/initialized`; when the owner's
connection ends (the owner exited, or handed over to `serve`), it connects to the next owner
(becoming it, if no one else is), replays the two under a private id and drops the answer, so the
client's session goes on without a new handshake. Requests that were sent and not answered when
the connection ended are answered with an error saying their outcome is unknown (a `tools/call`
among them is `call.outcome_unknown` in the ledger once the next owner starts); requests the
client sends while there is no owner wait and go to the next one.

What the old owner held for the session in memory does not move: its default workflow (the next
owner starts a new one; pass `rollgate/workflow` to keep one), resource subscriptions and the
logging level. Durable state (ledger, approvals, tasks, workflows) is in the state directory.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import anyio
from anyio.abc import ByteStream
from anyio.streams.buffered import BufferedByteReceiveStream

from gateway.server.local_socket import MAX_LINE

logger = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[ByteStream]]
"""A connection to the current owner, becoming it first when there is none."""

REPLAY_ID = "rollgate-replayed-initialize"

_LOST = (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)

# The SDK writes every answer as {"jsonrpc":"2.0","id":…,"result"|"error":…} and every
# notification as {"jsonrpc":"2.0","method":…}: an answer's id is read from its first bytes,
# without parsing a result that may be megabytes long; other shapes are parsed.
_ANSWER_ID = re.compile(rb'^\{"jsonrpc":"2\.0","id":("(?:[^"\\]|\\.)*"|-?\d+),"(?:result|error)"')
_NOTIFICATION = re.compile(rb'^\{"jsonrpc":"2\.0","method"')
_NOT_AN_ANSWER = object()

UNKNOWN_OUTCOME = (
    "rollgate: the gateway process that served this session stopped before it answered "
    "(another rollgate process now owns the state directory); this request may or may not have "
    "taken effect: check before sending it again"
)


class ClientLines(Protocol):
    """The client's side: its lines (each ending in a newline), and a way to write to it."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def send(self, line: bytes) -> None: ...


class Follower:
    def __init__(self, client: ClientLines, connect: Connect) -> None:
        self._client = client
        self._connect = connect
        self._initialize: dict[str, Any] | None = None
        self._initialized: bytes | None = None
        self._in_flight: dict[str, Any] = {}
        """The client's requests sent to the current owner and not answered, by their id's JSON."""
        self._outbox_in, self._outbox = anyio.create_memory_object_stream[bytes](256)
        self._lost = False
        self._answered = anyio.Event()

    async def run(self) -> None:
        """Forward until the client's input ends."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._read_client)
            while True:
                stream = await self._connect()
                if await self._forward(stream):
                    break
                logger.warning("the owner's connection ended; following the next owner")
                await self._fail_in_flight()
            tg.cancel_scope.cancel()

    async def _read_client(self) -> None:
        async with self._outbox_in:
            async for line in self._client:
                self._note(line)
                await self._outbox_in.send(line)

    def _note(self, line: bytes) -> None:
        """Keep what a new owner must hear again: the client's handshake."""
        if b'"initialize' not in line and b"notifications/initialized" not in line:
            return
        message = _parsed(line)
        method = message.get("method") if message is not None else None
        if method == "initialize" and message is not None:
            self._initialize = message
        elif method == "notifications/initialized":
            self._initialized = line

    async def _forward(self, stream: ByteStream) -> bool:
        """Pump one owner connection; True when the client is done, False when the owner went."""
        self._lost = False
        reader = BufferedByteReceiveStream(stream)
        async with stream:
            try:
                await self._replay(stream, reader)
            except _LOST:
                return False
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._to_client, reader, tg.cancel_scope)
                try:
                    async for line in self._outbox:
                        self._track(line)
                        await stream.send(line)
                except _LOST:
                    self._lost = True
                else:  # the client's input ended: its requests still get their answers
                    while self._in_flight and not self._lost:
                        await self._answered.wait()
                        self._answered = anyio.Event()
                tg.cancel_scope.cancel()
        return not self._lost

    async def _replay(self, stream: ByteStream, reader: BufferedByteReceiveStream) -> None:
        if self._initialize is None:
            return
        await stream.send(json.dumps({**self._initialize, "id": REPLAY_ID}).encode() + b"\n")
        while True:
            line = await reader.receive_until(b"\n", MAX_LINE)
            message = _parsed(line)
            if message is not None and message.get("id") == REPLAY_ID and "method" not in message:
                break
            await self._client.send(line + b"\n")  # a notice the new owner sent first
        if "error" in message:
            logger.error("the new owner refused the replayed initialize: %s", message["error"])
        if self._initialized is not None:
            await stream.send(self._initialized)

    async def _to_client(self, reader: BufferedByteReceiveStream, scope: anyio.CancelScope) -> None:
        try:
            while True:
                line = await reader.receive_until(b"\n", MAX_LINE)
                answered = _answered_id(line) if self._in_flight else _NOT_AN_ANSWER
                await self._client.send(line + b"\n")
                if answered is not _NOT_AN_ANSWER:  # delivered: no longer in flight
                    self._in_flight.pop(_id_key(answered), None)
                    self._answered.set()
        except (*_LOST, anyio.DelimiterNotFound):
            self._lost = True
            self._answered.set()
            scope.cancel()

    def _track(self, line: bytes) -> None:
        if b'"method"' not in line or b'"id"' not in line:
            return  # a notification, or the client's answer to the owner's request
        message = _parsed(line)
        if message is not None and "method" in message and "id" in message:
            self._in_flight[_id_key(message["id"])] = message["id"]

    async def _fail_in_flight(self) -> None:
        lost, self._in_flight = list(self._in_flight.values()), {}
        for request_id in lost:
            error = {"code": -32603, "message": UNKNOWN_OUTCOME}
            await self._client.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode() + b"\n")


def _answered_id(line: bytes) -> Any:
    """The id of the request `line` answers, or `_NOT_AN_ANSWER`."""
    if (found := _ANSWER_ID.match(line)) is not None:
        return json.loads(found.group(1))
    if _NOTIFICATION.match(line) is not None:
        return _NOT_AN_ANSWER
    message = _parsed(line)
    if message is None or "method" in message or "id" not in message:
        return _NOT_AN_ANSWER
    return message["id"]


def _parsed(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _id_key(request_id: Any) -> str:
    return json.dumps(request_id)
