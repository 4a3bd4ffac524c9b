"""`rollgate stdio`: the gateway as a process that an MCP client launches and talks to over stdio.

It serves until stdin ends or SIGTERM/SIGINT arrives (the MCP spec's stdio shutdown: close stdin,
then SIGTERM); either way the gateway closes in order: the ledger records the stop and signs a
last checkpoint.
"""

from __future__ import annotations

import os
import signal
import stat
import sys

import anyio
import anyio.abc
from anyio import CancelScope
from mcp.server.stdio import stdio_server

from gateway.app import Gateway
from gateway.config import Config
from gateway.server.build import build_server

_READ_SIZE = 1 << 16


async def serve_stdio(config: Config) -> None:
    gateway = Gateway(config)
    async with anyio.create_task_group() as tg:
        await tg.start(_stop_on_signal, tg.cancel_scope)  # before start-up, which a signal may interrupt
        async with gateway.running():
            server = build_server(gateway)
            async with stdio_server(stdin=_stdin_lines()) as (read, write):  # type: ignore[arg-type]
                await server.run(read, write, server.create_initialization_options())
        tg.cancel_scope.cancel()


async def _stop_on_signal(scope: CancelScope, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            scope.cancel()
            return


def _stdin_lines() -> StdinLines | None:
    """A cancellable reader when stdin is a pipe or socket (as MCP clients launch servers);
    otherwise the SDK's own reader."""
    mode = os.fstat(sys.stdin.fileno()).st_mode
    return StdinLines(sys.stdin.fileno()) if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else None


class StdinLines:
    """stdin as async text lines that a cancellation interrupts.

    The SDK's reader blocks a worker thread on the next line, and a task group cannot finish
    while that thread waits, so a signal could not stop the gateway in order. This one waits for
    the descriptor to be readable on the event loop and reads what is there without blocking.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""
        os.set_blocking(fd, False)

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        while b"\n" not in self._buffer:
            await anyio.wait_readable(self._fd)
            try:
                chunk = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                continue
            if not chunk:  # end of input
                if not self._buffer:
                    raise StopAsyncIteration
                line, self._buffer = self._buffer, b""
                return line.decode("utf-8", errors="replace")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return (line + b"\n").decode("utf-8", errors="replace")
