"""The stdio wire: raw requests next to the SDK session on one server's pipes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from opentelemetry import trace as otel_trace

from gateway.errors import NotSent, WireTimeout
from gateway.upstream.wire import StdioWire, stdio_wire

pytestmark = pytest.mark.anyio

SERVER = StdioServerParameters(
    command=sys.executable, args=[str(Path(__file__).parents[2] / "fixtures" / "line_server.py")]
)
Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]


@asynccontextmanager
async def wired() -> AsyncIterator[tuple[StdioWire, Streams]]:
    with anyio.fail_after(10):
        async with stdio_wire(SERVER) as (read, write, wire):
            yield wire, (read, write)


async def next_for_session(streams: Streams) -> types.JSONRPCMessage:
    item = await streams[0].receive()
    assert not isinstance(item, Exception)
    return item.message


async def test_a_raw_request_gets_the_servers_result_as_a_plain_dict() -> None:
    async with wired() as (wire, _):
        assert await wire.request("echo", {"a": [1, 2], "b": "é"}) == {"a": [1, 2], "b": "é"}


async def test_the_callers_trace_context_travels_in_meta_and_nothing_is_added_without_one() -> None:
    span = otel_trace.NonRecordingSpan(
        otel_trace.SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=otel_trace.TraceFlags(1))
    )
    async with wired() as (wire, _):
        assert await wire.request("echo", {"a": 1}) == {"a": 1}
        with otel_trace.use_span(span):
            traced = await wire.request("echo", {"a": 1})
    assert traced["_meta"]["traceparent"] == f"00-{0x1234:032x}-{0x5678:016x}-01"


async def echo_at_once(wire: StdioWire, count: int, **extra: object) -> dict[int, dict[str, object]]:
    """`count` echo requests, all started in one loop pass; their answers by request number."""
    results: dict[int, dict[str, object]] = {}

    async def one(n: int) -> None:
        results[n] = await wire.request("echo", {"n": n, **extra})

    async with anyio.create_task_group() as tg:
        for n in range(count):
            tg.start_soon(one, n)
    return results


async def test_concurrent_raw_requests_each_get_their_own_answer() -> None:
    async with wired() as (wire, _):
        assert await echo_at_once(wire, 20) == {n: {"n": n} for n in range(20)}


async def test_progress_reaches_the_sink_in_order_before_the_result() -> None:
    seen: list[tuple[float, float | None]] = []

    async def sink(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with wired() as (wire, _):
        assert await wire.request("progress", {"steps": 3}, sink) == {"done": True}
    assert seen == [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)]


async def test_an_error_answer_raises_mcp_error_with_the_servers_code_message_and_data() -> None:
    async with wired() as (wire, _):
        with pytest.raises(MCPError) as raised:
            await wire.request("fail", None)
    assert (raised.value.error.code, raised.value.error.message, raised.value.error.data) == (-32001, "nope", {"x": 1})


async def test_what_the_server_sends_besides_raw_answers_goes_to_the_session() -> None:
    async with wired() as (wire, streams):
        async with anyio.create_task_group() as tg:
            tg.start_soon(wire.request, "notify", None)
            message = await next_for_session(streams)
        assert isinstance(message, types.JSONRPCNotification)
        assert message.method == "notifications/message"


async def test_the_sessions_own_requests_and_their_answers_pass_through() -> None:
    async with wired() as (_, (read, write)):
        await write.send(SessionMessage(types.JSONRPCRequest(jsonrpc="2.0", id=7, method="echo", params={"k": 1})))
        message = await next_for_session((read, write))
    assert isinstance(message, types.JSONRPCResponse)
    assert (message.id, message.result) == (7, {"k": 1})


async def test_a_line_that_is_not_json_reaches_the_session_as_an_error() -> None:
    async with wired() as (wire, streams), anyio.create_task_group() as tg:
        tg.start_soon(wire.request, "garbage", None)
        assert isinstance(await streams[0].receive(), Exception)


async def test_a_cancelled_raw_request_tells_the_server_which_request_to_stop() -> None:
    async with wired() as (wire, streams):
        with anyio.move_on_after(0.2):
            await wire.request("hang", None)
        message = await next_for_session(streams)
    assert isinstance(message, types.JSONRPCNotification)
    assert message.params is not None and message.params["data"] == "cancelled rollgate-1"


async def test_a_request_past_its_timeout_raises_and_tells_the_server_to_stop() -> None:
    async with wired() as (wire, streams):
        with anyio.fail_after(5), pytest.raises(WireTimeout, match="hang within 0.2s"):
            await wire.request("hang", None, timeout=0.2)
        message = await next_for_session(streams)
        assert isinstance(message, types.JSONRPCNotification)
        assert message.params is not None and message.params["data"] == "cancelled rollgate-1"
        # an answer within its timeout is not disturbed by the timer
        assert await wire.request("echo", {"n": 1}, timeout=5) == {"n": 1}


async def test_requests_in_flight_fail_with_connection_closed_when_the_server_exits() -> None:
    errors: list[MCPError] = []

    async def hang(wire: StdioWire) -> None:
        try:
            await wire.request("hang", None)
        except MCPError as exc:
            errors.append(exc)

    async with wired() as (wire, streams):
        async with anyio.create_task_group() as tg:
            tg.start_soon(hang, wire)
            await anyio.wait_all_tasks_blocked()
            with pytest.raises(MCPError):
                await wire.request("exit", None)
        with pytest.raises(anyio.EndOfStream):
            await streams[0].receive()  # the session sees the connection end too
        with pytest.raises(NotSent):
            await wire.request("echo", {})  # and later requests fail at once: never sent, so never run
    assert [error.error.code for error in errors] == [types.CONNECTION_CLOSED]


def test_answers_with_the_sessions_integer_ids_are_left_for_the_session() -> None:
    wire = StdioWire.__new__(StdioWire)
    wire._waiting = {}
    assert not wire.take({"jsonrpc": "2.0", "id": 1, "result": {}})
    assert not wire.take({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1}})
    assert not wire.take({"jsonrpc": "2.0", "id": "rollgate-9", "result": {}})  # not (or no longer) in flight
    assert not wire.take(None)


class _RecordingWriter:
    """The wire's pipe writer, noting how many request lines each write carries."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.noted: list[str] = []
        self.closed = False
        """Set to make the pipe look closed (as when the server closed its stdin)."""

    def is_closing(self) -> bool:
        return self.closed or self._writer.is_closing()

    def write(self, data: bytes) -> None:
        lines = data.count(b"\n")
        self.noted.append(f"write {lines}")
        self._writer.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


@asynccontextmanager
async def recording(wire: StdioWire) -> AsyncIterator[_RecordingWriter]:
    assert wire._writer is not None
    original = wire._writer
    writer = wire._writer = _RecordingWriter(original)  # type: ignore[assignment]
    try:
        yield writer
    finally:
        wire._writer = original


async def test_a_lone_request_leaves_before_the_loop_runs_anything_else() -> None:
    async with wired() as (wire, _), recording(wire) as writer:
        asyncio.get_running_loop().call_soon(writer.noted.append, "next pass")
        assert await wire.request("echo", {"n": 1}) == {"n": 1}
    assert writer.noted[:2] == ["write 1", "next pass"]


async def test_requests_made_in_one_loop_pass_leave_in_one_write_behind_the_first() -> None:
    async with wired() as (wire, _), recording(wire) as writer:
        results = await echo_at_once(wire, 10)
    assert results == {n: {"n": n} for n in range(10)}
    assert writer.noted == ["write 1", "write 9"]


async def test_large_requests_in_one_pass_leave_once_they_fill_the_keep_and_all_are_answered() -> None:
    text = "x" * (40 * 1024)
    async with wired() as (wire, _), recording(wire) as writer:
        results = await echo_at_once(wire, 7, text=text)
    assert results == {n: {"n": n, "text": text} for n in range(7)}
    assert writer.noted == ["write 1", "write 2", "write 2", "write 2"]  # 2 x 40 KiB passes the 64 KiB keep


async def test_requests_kept_for_a_pipe_that_closed_before_they_left_fail_as_connection_closed() -> None:
    codes: list[int] = []
    both_failed = anyio.Event()

    async def one() -> None:
        try:
            await wire.request("hang", None)
        except MCPError as exc:
            codes.append(exc.error.code)
            if len(codes) == 2:
                both_failed.set()

    def close() -> None:
        writer.closed = True

    async with wired() as (wire, _), recording(wire) as writer:
        with anyio.fail_after(5), anyio.CancelScope() as lone:
            async with anyio.create_task_group() as tg:
                for _ in range(3):  # in one loop pass: the first leaves, two are kept
                    tg.start_soon(one)
                asyncio.get_running_loop().call_soon(close)  # before the pass ends
                await both_failed.wait()
                lone.cancel()  # the first did leave: it hangs
    assert codes == [types.CONNECTION_CLOSED, types.CONNECTION_CLOSED]
    assert writer.noted == ["write 1"]
