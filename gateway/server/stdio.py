"""`rollgate stdio`: the gateway as a process that an MCP client launches and talks to over stdio.

Its client is forwarded to the owner of the state directory (`follow.py`, `ownership.py`): this
process itself when no other one owns it, so several IDE windows and a `rollgate serve` share one
gateway, one ledger and one set of upstream processes. As the owner it connects the upstreams in
the background (`Gateway.running(background=True)`), so `initialize` is answered at once and a
hung upstream fails only its own calls.

It serves until stdin ends or SIGTERM/SIGINT arrives (the MCP spec's stdio shutdown: close stdin,
then SIGTERM); either way an owned gateway closes in order (the ledger records the stop and signs
a last checkpoint) and a follower, if any, becomes the next owner.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
from collections.abc import AsyncIterator

import anyio
import anyio.abc
from anyio import CancelScope
from anyio.abc import ByteStream, TaskGroup

from gateway.app import Gateway
from gateway.config import Config
from gateway.errors import LedgerBusyError, OwnerBusyError
from gateway.server import local_socket
from gateway.server.follow import Follower
from gateway.server.ownership import FileLock, RunDir, bind, try_to_own, unbind

logger = logging.getLogger(__name__)

_READ_SIZE = 1 << 16
_RETRY_SECONDS = 0.05


async def serve_stdio(config: Config) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(_stop_on_signal, tg.cancel_scope)
        with ClientStdio() as client:
            owner = Owner(config, RunDir(config.state_dir), tg)
            await Follower(client, owner.connect).run()
        tg.cancel_scope.cancel()


async def _stop_on_signal(scope: CancelScope, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            scope.cancel()
            return


class Owner:
    """This process's way to the owner of the state directory, becoming the owner when no one is."""

    def __init__(self, config: Config, run: RunDir, task_group: TaskGroup) -> None:
        self._config = config
        self._run = run
        self._task_group = task_group
        self._owning = False

    async def connect(self) -> ByteStream:
        deadline = anyio.current_time() + self._config.stdio.follow_seconds
        problem = "no process answered on the socket"
        while True:
            if not self._owning and (lock := await try_to_own(self._run)) is not None:
                try:
                    await self._task_group.start(self._own, lock)
                except LedgerBusyError as exc:  # a `rollgate ledger` command, or a gateway elsewhere
                    problem = str(exc)
            try:
                return await anyio.connect_unix(self._run.socket)
            except OSError as exc:
                if not self._owning:
                    problem = f"{self._run.socket}: {exc.strerror or exc}"
            if anyio.current_time() >= deadline:
                raise OwnerBusyError(
                    f"cannot reach the gateway that owns {self._config.state_dir} "
                    f"within {self._config.stdio.follow_seconds:g}s: {problem}"
                )
            await anyio.sleep(_RETRY_SECONDS)

    async def _own(self, lock: FileLock, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Run the gateway and its socket until the process ends or `serve` takes over."""
        try:
            with bind(self._run.socket) as sock, CancelScope() as owned:
                gateway = Gateway(self._config)
                async with gateway.running(background=True), anyio.create_task_group() as tg:
                    await tg.start(local_socket.serve_socket, gateway, sock, owned.cancel)
                    self._owning = True
                    logger.info("this process owns %s", self._config.state_dir)
                    task_status.started()
        finally:
            self._owning = False
            unbind(self._run.socket)
            lock.release()


class ClientStdio:
    """The client's stdin and stdout as lines, taken over for the session: fd 0 then reads the null
    device and fd 1 writes to stderr, so nothing else in the process (an upstream's inherited
    descriptors, a stray print) can write on the client's wire."""

    def __enter__(self) -> ClientStdio:
        self._in, self._out = os.dup(0), os.dup(1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)
        self._pollable = _pollable(self._in)
        self._writable = _pollable(self._out)
        if self._pollable:
            os.set_blocking(self._in, False)
        if self._writable:
            os.set_blocking(self._out, False)  # a client slow to read never blocks the event loop
        self._buffer = b""
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self._in)
        os.close(self._out)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            while b"\n" not in self._buffer:
                chunk = await self._read()
                if not chunk:  # end of input
                    if self._buffer:
                        yield self._buffer + b"\n"
                    return
                self._buffer += chunk
            line, _, self._buffer = self._buffer.partition(b"\n")
            if line.strip():
                yield line + b"\n"

    async def _read(self) -> bytes:
        if not self._pollable:  # a terminal or a file: a worker thread waits for it
            return await anyio.to_thread.run_sync(os.read, self._in, _READ_SIZE, abandon_on_cancel=True)
        while True:
            await anyio.wait_readable(self._in)
            try:
                return os.read(self._in, _READ_SIZE)
            except BlockingIOError:
                continue

    async def send(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            if not self._writable:
                view = view[await anyio.to_thread.run_sync(os.write, self._out, view) :]
                continue
            try:
                view = view[os.write(self._out, view) :]
            except BlockingIOError:
                await anyio.wait_writable(self._out)


def _pollable(fd: int) -> bool:
    """A pipe or socket (as MCP clients launch servers) can be waited on by the event loop."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
