"""One owner per state directory, however many `rollgate stdio` and `rollgate serve` run on it.

The owner is the one process that holds the flock on `run/owner.lock` in the state directory. It
alone opens the ledger (so there is one hash chain), the approvals and saga stores and the
upstreams, and it listens on `run/stdio.sock` (directory 0700, socket 0600; see
`local_socket.py`). Every `rollgate stdio` is a follower of the owner (`follow.py`), even of
itself: the first one finds no owner, becomes it, and forwards its own client over its own socket;
the next ones forward theirs. When the owner ends, a follower becomes the owner in its place and
the others follow it.

`rollgate serve` always owns: started while a stdio process owns, it asks that process over the
socket to hand over (it closes its gateway in order and follows serve), and takes the lock.
While it does, it holds `run/claim.lock`, which a follower must take before it may claim
ownership, so no follower can take the owner lock in between. A second `serve` is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

from gateway.config import Config
from gateway.errors import OwnerBusyError, StoreError
from gateway.store.state_dir import prepare_state_dir

HANDOVER_METHOD = "rollgate/handover"
"""The one request on the socket that is not MCP: `serve` asking a stdio owner to hand over."""

_SOCKET_PATH_MAX = 100
"""sun_path holds 108 bytes on Linux and 104 on macOS, with the terminating NUL."""

_POLL_SECONDS = 0.05


class FileLock:
    """An exclusive, non-blocking flock on one file; released by `release` or by process exit."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def acquire(self, deadline: float) -> bool:
        """Poll until the lock is held or `deadline` (anyio time) passes."""
        while not self.try_acquire():
            if anyio.current_time() >= deadline:
                return False
            await anyio.sleep(_POLL_SECONDS)
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


class RunDir:
    """Where the owner's lock, the claim lock and the socket of one state directory live."""

    def __init__(self, state_dir: Path) -> None:
        prepare_state_dir(state_dir)
        self.path = state_dir / "run"
        self.path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.path, 0o700)
        self.owner_lock = self.path / "owner.lock"
        self.claim_lock = self.path / "claim.lock"
        self.socket = self.path / "stdio.sock"
        if len(os.fsencode(self.socket)) > _SOCKET_PATH_MAX:
            self.socket = _short_socket_path(state_dir)


def _short_socket_path(state_dir: Path) -> Path:
    """A state directory too deep for a socket path gets its socket in a private directory of the
    user's under the temporary directory, named by a digest of the state directory."""
    private = Path(tempfile.gettempdir()) / f"rollgate-{os.getuid()}"
    private.mkdir(mode=0o700, exist_ok=True)
    info = private.lstat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise StoreError(f"{private}: not a private directory of this user; set [paths] state_dir to a shorter path")
    digest = hashlib.sha256(os.fsencode(state_dir.resolve())).hexdigest()[:24]
    return private / f"{digest}.sock"


def bind(path: os.PathLike[str]) -> socket.socket:
    """Listen on `path` (mode 0600). Connections wait in the backlog until `serve_socket` accepts,
    so followers can connect while the owner is still starting."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a stale socket of an owner that died; only the lock holder gets here
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old = os.umask(0o177)
        try:
            sock.bind(os.fspath(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def unbind(path: Path) -> None:
    """Remove the socket file: only its owner calls this, before releasing the owner lock (a new
    owner may bind the same path the moment after)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def try_to_own(run: RunDir) -> FileLock | None:
    """The owner lock, if no one owns and no `serve` is taking over; else None."""
    claim = FileLock(run.claim_lock)
    if not claim.try_acquire():
        return None  # a serve is taking over: follow it
    try:
        owner = FileLock(run.owner_lock)
        return owner if owner.try_acquire() else None
    finally:
        claim.release()


@asynccontextmanager
async def owned_by_serve(config: Config) -> AsyncIterator[socket.socket]:
    """Own the state directory for `serve`: at once if no one does, else by asking the stdio
    process that owns it to hand over (OwnerBusyError when another `serve` owns it). Yields the
    owner's socket, bound and listening, for `local_socket.serving`."""
    run = RunDir(config.state_dir)
    deadline = anyio.current_time() + config.stdio.follow_seconds
    claim, owner = FileLock(run.claim_lock), FileLock(run.owner_lock)
    if not await claim.acquire(deadline):
        raise OwnerBusyError(f"{run.claim_lock}: another process is taking over this state directory")
    try:
        if not owner.try_acquire():
            await request_handover(run)
            if not await owner.acquire(deadline):
                raise OwnerBusyError(
                    f"the rollgate stdio process that owns {config.state_dir} did not hand over "
                    f"within {config.stdio.follow_seconds:g}s"
                )
    finally:
        claim.release()
    try:
        with bind(run.socket) as sock:
            yield sock
    finally:
        unbind(run.socket)
        owner.release()


async def request_handover(run: RunDir) -> None:
    """Ask the owner over its socket to hand over; OwnerBusyError if it refuses or cannot be asked."""
    request = {"jsonrpc": "2.0", "id": "handover", "method": HANDOVER_METHOD}
    try:
        with anyio.fail_after(10):
            async with await anyio.connect_unix(run.socket) as stream:
                await stream.send(json.dumps(request).encode() + b"\n")
                answer = json.loads(await BufferedByteReceiveStream(stream).receive_until(b"\n", 1 << 16))
    except (OSError, TimeoutError, anyio.EndOfStream, anyio.IncompleteRead, ValueError) as exc:
        raise OwnerBusyError(
            f"another process owns {run.path.parent} and its socket {run.socket} does not answer ({exc!r}); "
            "is a `rollgate ledger` command or a gateway on another host using it?"
        ) from None
    if "error" in answer:
        raise OwnerBusyError(str(answer["error"].get("message", answer["error"])))
