"""The append-only ledger: durable, hash-chained, Merkle-tree entries with signed tree heads.

Writers hand it typed events (`events.py`); each becomes one entry of the event's kind and data.
Appends go to one writer thread. It takes every entry waiting at that moment, chains them in
order, writes them in one transaction and commits once (group commit: concurrent callers share one
fsync), and only then wakes the callers: `append` returns once the entry is on disk. An entry
nobody waits for (`submit`) is held a few milliseconds for the next one that somebody does. A
caller that is the only call in flight, finding the writer idle, writes on the event loop itself
(the thread hand-offs cost it more than the fsync). A caller with something to do meanwhile
has its entry written while it goes on and awaits its durability later (`append_soon`). Tree
heads are signed as checkpoints periodically, on demand, and at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio

from gateway._sdk import running_loop
from gateway.clock import SYSTEM, Clock
from gateway.errors import LedgerClosed
from gateway.ledger.anchor import keep_copy
from gateway.ledger.entry import GENESIS, StoredEntry, index_columns, seal
from gateway.ledger.events import LedgerEvent
from gateway.ledger.keys import KEY_NAME, SigningKey
from gateway.ledger.merkle import root
from gateway.ledger.note import Checkpoint, parse
from gateway.store.base import LedgerRow, LedgerStore

logger = logging.getLogger(__name__)

_MAX_BATCH = 1024
_SETTLE_EVERY = 0.05
"""Seconds an appended entry waits at most for the store's deferred work (indexing) to take it.

Readers in this process never wait for it (the store settles before reading); other processes
reading the index see entries this much later. Settling once per interval rather than after each
pause in the traffic: at one call in flight there is a pause after every call, and an index
transaction per call cost the writer more than the appends themselves."""
_MAX_UNSETTLED = 4096
_LINGER = 0.005
"""Seconds an entry nobody waits for (`submit`: a call's outcome) is held on the event loop for
the next entry somebody waits for: at one call in flight, a call's outcome and the next call's
intent then share one durable write, and the intent never queues behind the outcome's fsync."""


@dataclass(slots=True)
class _Pending:
    kind: str
    data: dict[str, Any]
    done: threading.Event | None = None
    """Set once written, for a caller that blocks in a thread; async callers are woken instead."""
    entry: StoredEntry | None = None
    error: BaseException | None = None
    woken: asyncio.Future[None] | None = None
    """Resolved on its loop once written, for a caller awaiting `append`."""
    written: bool = False
    """Set by the writer (under `Ledger._waking`) once `entry` or `error` is final."""

    def outcome(self) -> StoredEntry:
        if self.error is not None:
            raise self.error
        assert self.entry is not None
        return self.entry


def _pending(event: LedgerEvent, done: threading.Event | None = None) -> _Pending:
    # The data is taken here, on the caller's side: what fails to serialise fails the caller, and
    # the writer thread only chains and writes.
    return _Pending(event.kind, event.data(), done)


class _Nudge:
    """Tells the writer thread that entries written on the event loop wait to be indexed."""


_NUDGE = _Nudge()


class Cosigners(Protocol):
    """Who is offered each new checkpoint to cosign (`gateway.witness.pushing.Witnesses`)."""

    async def offer(self, note: str, leaves: Sequence[bytes]) -> str | None:
        """The note with the cosignatures obtained, or None if nobody cosigned it."""
        ...

    def offer_blocking(self, note: str, leaves: Sequence[bytes]) -> str | None:
        """`offer` at stop, blocking (at most a bounded while)."""
        ...


class Ledger:
    def __init__(
        self,
        store: LedgerStore,
        key: SigningKey,
        origin: str,
        *,
        checkpoint_copy: Path | None = None,
        cosigners: Cosigners | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        self.store = store
        self.clock = clock
        self.key = key
        self.origin = origin
        self.checkpoint_copy = checkpoint_copy
        """Where each new checkpoint is also kept (`[ledger] checkpoint_copy`; see `anchor.py`)."""
        self.cosigners = cosigners
        """Who cosigns each new checkpoint (`[[ledger.witnesses]]`: `gateway.witness.pushing`)."""
        self._queue: queue.SimpleQueue[_Pending | _Nudge | None] = queue.SimpleQueue()
        tail = store.tail()
        self._seq = tail.seq if tail else 0
        self._prev = tail.entry_hash if tail else GENESIS
        self._leaves = store.leaves()
        self._signed_size = max((size for size, _, _ in store.checkpoints()), default=0)
        self._writing = threading.Lock()
        """Held while entries are chained and written (by the writer thread, or inline) and while
        the store settles: whoever holds it owns the chain's tail."""
        self._counting = threading.Lock()
        self._waking = threading.Lock()
        """Orders the writer's `written` against an `append_soon` caller registering its future."""
        self._outstanding = 0
        """Entries handed to the writer thread and not yet written (under `_counting`)."""
        self._held: list[_Pending] = []
        self._held_loop: asyncio.AbstractEventLoop | None = None
        self._held_timer: asyncio.TimerHandle | None = None
        self._nudge_timer: asyncio.TimerHandle | None = None
        self.on_write: Callable[[list[str], float], None] | None = None
        """Told of each durable write (the entries' kinds, the seconds the store's append and its
        fsync took), on the thread that wrote: the metrics (`gateway.observability`)."""
        self._thread = threading.Thread(target=self._write_forever, name="rollgate-ledger", daemon=True)
        self._closed = False
        self._thread.start()

    async def append(self, event: LedgerEvent, *, alone: bool = False) -> StoredEntry:
        """Record one event; returns once it is durable.

        `alone`: the caller is the only call in flight. If the writer thread is idle as well, the
        entry (after the outcomes held for it) is chained and written right here, on the event
        loop: two thread hand-offs fewer, which at one call in flight cost more than the fsync
        itself. Whatever else the loop has to do meanwhile waits for that write.
        """
        if self._closed:
            raise LedgerClosed("the ledger is stopped")
        pending = _pending(event)
        if alone and self._write_inline(pending):
            return pending.outcome()
        pending.woken = asyncio.get_running_loop().create_future()
        self._enqueue([*self._take_held(), pending])
        # A cancelled caller does not un-write its entry: it is queued already, and the writer
        # skips a future that was cancelled. (No asyncio.shield: one loop pass less per append.)
        await pending.woken
        return pending.outcome()

    def append_soon(self, event: LedgerEvent, *, alone: bool = False) -> Awaitable[StoredEntry]:
        """Have one event written while the caller goes on; await the result for it to be durable
        (it raises what the write raised).

        For a caller with other work to do meanwhile: a read-only call is forwarded while its
        intent is written, and its answer waits for the result. The entry is written whether or
        not the result is awaited, as with a cancelled `append`. It goes to the writer thread at
        once; or, `alone` (the only call in flight), it is written on the event loop's next pass,
        once the caller has sent its request and waits: at one call in flight the loop has
        nothing else to do while the fsync runs, and the writer thread's wake-up and hand-offs
        cost CPU that the upstream, on the same two cores, is waiting for.
        """
        if self._closed:
            raise LedgerClosed("the ledger is stopped")
        pending = _pending(event)
        if alone:
            asyncio.get_running_loop().call_soon(self._write_soon, pending)
        else:
            self._enqueue([*self._take_held(), pending])
        return self._durable(pending)

    def _write_soon(self, pending: _Pending) -> None:
        try:
            if self._closed:
                raise LedgerClosed("the ledger is stopped")
            if not self._write_inline(pending):
                self._enqueue([*self._take_held(), pending])
        except BaseException as exc:  # (a loop callback: whoever awaits the entry learns of it)
            logger.exception("ledger write failed")
            with self._waking:
                failed = not pending.written  # (if it was written, what failed came after)
                if failed:
                    pending.error = exc
            if failed:
                self._wake([pending])

    async def _durable(self, pending: _Pending) -> StoredEntry:
        # Usually written by now (the fsync is shorter than the upstream's work): then the writer
        # never had to wake the loop. Otherwise the writer finds this future and resolves it.
        with self._waking:
            if not pending.written:
                pending.woken = asyncio.get_running_loop().create_future()
        if pending.woken is not None:
            await pending.woken
        return pending.outcome()

    def submit(self, event: LedgerEvent) -> None:
        """Record one event without waiting for it to be durable (a write failure is logged).

        For entries whose loss in a crash is itself recorded: a call's outcome, whose absence
        start-up recovery turns into an explicit `call.outcome_unknown`. It is written with the
        next entry somebody waits for, or after `_LINGER` seconds.
        """
        if self._closed:
            raise LedgerClosed("the ledger is stopped")
        pending = _pending(event)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop to hold it on
            self._enqueue([pending])
            return
        self._held.append(pending)
        if self._held_timer is None:
            self._held_loop = loop
            self._held_timer = loop.call_later(_LINGER, self._release_held)

    def append_blocking(self, event: LedgerEvent) -> StoredEntry:
        """The same from a thread with no event loop (start-up recovery, CLI), or at stop."""
        pending = _pending(event, threading.Event())
        self._enqueue([*self._take_held(), pending])
        assert pending.done is not None
        pending.done.wait()
        return pending.outcome()

    # -- the event loop's side ------------------------------------------------------------

    def _write_inline(self, pending: _Pending) -> bool:
        if not self._writing.acquire(blocking=False):
            return False  # the writer thread is busy: queue behind it
        try:
            with self._counting:
                if self._outstanding:  # entries handed over earlier go first
                    return False
            self._write([*self._take_held(), pending])
        finally:
            self._writing.release()
        if self._nudge_timer is None:
            self._nudge_timer = asyncio.get_running_loop().call_later(_SETTLE_EVERY, self._nudge)
        return True

    def _nudge(self) -> None:
        self._nudge_timer = None
        self._queue.put(_NUDGE)

    def _take_held(self) -> list[_Pending]:
        held, self._held = self._held, []
        if self._held_timer is not None and running_loop() is self._held_loop:
            self._held_timer.cancel()  # (from another thread, the timer fires and finds nothing)
            self._held_timer = None
        return held

    def _release_held(self) -> None:
        self._held_timer = None
        if self._held:
            self._enqueue(self._take_held())

    def _enqueue(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        with self._counting:
            self._outstanding += len(batch)
        for pending in batch:
            self._queue.put(pending)

    # -- the writer thread ----------------------------------------------------------------

    def _write_forever(self) -> None:
        unsettled = 0
        due = 0.0  # when the oldest unsettled entry must be indexed
        while True:
            try:
                wait = max(0.0, due - time.monotonic()) if unsettled else None
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                unsettled = self._settle()
                continue
            if first is None:
                self._settle()
                return
            if isinstance(first, _Nudge):  # (with entries of its own unsettled, a settle is due anyway)
                if not unsettled:
                    unsettled = self._settle()
                continue
            with self._writing:
                batch = self._batch(first)
                self._write(batch)
            with self._counting:
                self._outstanding -= len(batch)
            if not unsettled:
                due = time.monotonic() + _SETTLE_EVERY
            unsettled += len(batch)
            if unsettled >= _MAX_UNSETTLED or time.monotonic() >= due:
                unsettled = self._settle()

    def _batch(self, first: _Pending) -> list[_Pending]:
        """`first` and whatever is queued behind it (a nudge among them is moot: a settle is due)."""
        batch = [first]
        while len(batch) < _MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            if isinstance(item, _Pending):
                batch.append(item)
        return batch

    def _settle(self) -> int:
        try:
            with self._writing:  # an inline write would otherwise wait on the loop for the index
                self.store.settle()
        except Exception:  # the rows are durable; the store indexes them on its next settle or open
            logger.exception("ledger index write failed")
        return 0

    def _write(self, batch: list[_Pending]) -> None:
        seq, prev = self._seq, self._prev
        now = self.clock.now().isoformat()
        entries: list[StoredEntry] = []
        for pending in batch:
            seq += 1
            entry = seal(seq, prev, now, pending.kind, pending.data)
            prev = entry.entry_hash
            entries.append(entry)
        rows = [LedgerRow(e.seq, e.body, e.entry_hash, e.leaf, **index_columns(e)) for e in entries]  # type: ignore[arg-type]
        started = time.perf_counter()
        try:
            self.store.append(rows)
        except BaseException as exc:  # nothing was written: every waiter learns it, the chain stays
            logger.exception("ledger write failed")
            for pending in batch:
                pending.error = exc
        else:
            self._seq, self._prev = seq, prev
            self._leaves.extend(e.leaf for e in entries)
            if self.on_write is not None:
                self.on_write([pending.kind for pending in batch], time.perf_counter() - started)
            for pending, entry in zip(batch, entries, strict=True):
                pending.entry = entry
        self._wake(batch)

    def _wake(self, batch: list[_Pending]) -> None:
        """Mark the batch written (its entries or errors are final) and wake whoever waits.

        One wake-up per event loop for the whole batch (each call_soon_threadsafe writes to the
        loop's self-pipe): at 32 calls in flight a batch holds many waiters."""
        waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        with self._waking:
            for pending in batch:
                pending.written = True
                if pending.done is not None:
                    pending.done.set()
                if pending.woken is not None:
                    waiting.setdefault(pending.woken.get_loop(), []).append(pending.woken)
        for loop, futures in waiting.items():
            with contextlib.suppress(RuntimeError):  # the waiting loop is gone (shutdown)
                loop.call_soon_threadsafe(_settle, futures)

    def checkpoint(self) -> str | None:
        """Sign the current tree head (if it grew) and store it; returns the signed note."""
        size = self._seq
        if size == 0 or size == self._signed_size:
            return None
        note = _sign(self.store, self.key, self.origin, self._leaves[:size], self.checkpoint_copy, self.clock)
        self._signed_size = size
        return note

    async def sign_periodically(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            note = await anyio.to_thread.run_sync(self.checkpoint)
            if note is not None and self.cosigners is not None:
                await self.witness(note)

    async def witness(self, note: str) -> None:
        """Offer a new checkpoint to the cosigners; keep the cosigned note beside it."""
        assert self.cosigners is not None
        size = parse(note)[0].size
        cosigned = await self.cosigners.offer(note, self._leaves[:size])
        if cosigned is not None:
            await anyio.to_thread.run_sync(self.store.add_checkpoint, size, cosigned, self.key.key_id)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._enqueue(self._take_held())
        self._queue.put(None)
        self._thread.join(timeout=30)
        note = self.checkpoint()
        if note is not None and self.cosigners is not None:
            size = parse(note)[0].size
            cosigned = self.cosigners.offer_blocking(note, self._leaves[:size])
            if cosigned is not None:
                self.store.add_checkpoint(size, cosigned, self.key.key_id)
        self.store.close()


def sign_checkpoint(
    store: LedgerStore, key: SigningKey, origin: str, copy: Path | None = None, clock: Clock = SYSTEM
) -> str | None:
    """Sign the tree head of what `store` holds now, unless the last checkpoint already covers it
    (for a process that does not own the ledger: `rollgate ledger checkpoint`). The copy is
    written either way, so a newly configured copy can be started."""
    leaves = store.leaves()
    checkpoints = store.checkpoints()
    signed = max((size for size, _, _ in checkpoints), default=0)
    if not leaves or len(leaves) == signed:
        if copy is not None and checkpoints:
            keep_copy(copy, max(checkpoints, key=lambda c: c[0])[1])
        return None
    return _sign(store, key, origin, leaves, copy, clock)


def _sign(
    store: LedgerStore, key: SigningKey, origin: str, leaves: list[bytes], copy: Path | None, clock: Clock
) -> str:
    signed_at = int(clock.now().timestamp())
    note = Checkpoint(origin, len(leaves), root(leaves), signed_at).sign(KEY_NAME, key.private)
    store.add_checkpoint(len(leaves), note, key.key_id)
    if copy is not None:
        keep_copy(copy, note)
    return note


def _settle(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a cancelled caller's future is done already
            future.set_result(None)
