"""The listener's transport: writes of one loop pass leave as one write, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio.lowlevel
import pytest

from gateway.server.coalesce import CoalescingTransport

pytestmark = pytest.mark.anyio


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def abort(self) -> None:
        self.events.append("abort")
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def coalescing() -> tuple[CoalescingTransport, RecordingTransport]:
    real = RecordingTransport()
    return CoalescingTransport(real, asyncio.get_running_loop()), real  # type: ignore[arg-type]


async def test_a_status_line_headers_and_body_written_in_one_pass_leave_as_one_write() -> None:
    transport, real = coalescing()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(memoryview(b"{}"))
    assert real.writes == [] and transport.get_write_buffer_size() == 21
    await anyio.lowlevel.checkpoint()
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]


async def test_writes_of_later_passes_leave_separately_in_order() -> None:
    transport, real = coalescing()
    transport.write(b"event 1")
    await anyio.lowlevel.checkpoint()
    transport.writelines([b"event 2", b"event 3"])
    await anyio.lowlevel.checkpoint()
    assert real.writes == [b"event 1", b"event 2event 3"]


async def test_close_writes_what_was_kept_before_closing() -> None:
    transport, real = coalescing()
    transport.write(b"last")
    transport.close()
    await anyio.lowlevel.checkpoint()
    assert (real.writes, real.events) == ([b"last"], ["close"])


async def test_abort_drops_what_was_kept() -> None:
    transport, real = coalescing()
    transport.write(b"never")
    transport.abort()
    await anyio.lowlevel.checkpoint()
    assert (real.writes, real.events) == ([], ["abort"])


async def test_everything_else_is_the_real_transports() -> None:
    transport, _ = coalescing()
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
    assert transport.is_closing() is False
