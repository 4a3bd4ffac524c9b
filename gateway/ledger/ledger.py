"""The append-only ledger: durable, hash-chained, Merkle-tree entries with signed tree heads.

Appends go to one writer thread. It takes every entry waiting at that moment, chains them in
order, writes them in one transaction and commits once (group commit: concurrent callers share one
fsync), and only then wakes the callers: `append` returns once the entry is on disk. An entry
nobody waits for (`submit`) lingers a few milliseconds for the next one that somebody does.
Tree heads are signed as checkpoints periodically, on demand, and at stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from gateway.ledger.entry import GENESIS, StoredEntry, index_columns, seal
from gateway.ledger.keys import KEY_NAME, SigningKey
from gateway.ledger.merkle import root
from gateway.ledger.note import Checkpoint
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
"""Seconds an entry nobody waits for (`submit`: a call's outcome) may wait for company.

At one call in flight, a call's outcome and the next call's intent then share one fsync, and
the intent no longer queues behind the outcome's own. An entry somebody waits for is written at
once, with whatever lingers."""


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


class LedgerClosed(RuntimeError):
    """The ledger is stopped; nothing more can be recorded."""


class Ledger:
    def __init__(self, store: LedgerStore, key: SigningKey, origin: str) -> None:
        self.store = store
        self.key = key
        self.origin = origin
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        tail = store.tail()
        self._seq = tail.seq if tail else 0
        self._prev = tail.entry_hash if tail else GENESIS
        self._leaves = store.leaves()
        self._signed_size = max((size for size, _, _ in store.checkpoints()), default=0)
        self._thread = threading.Thread(target=self._write_forever, name="rollgate-ledger", daemon=True)
        self._closed = False
        self._thread.start()

    async def append(self, kind: str, data: dict[str, Any]) -> StoredEntry:
        """Record one entry; returns once it is durable."""
        if self._closed:
            raise LedgerClosed("the ledger is stopped")
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        pending = _Pending(kind, data, woken=woken)
        self._queue.put(pending)
        # A cancelled caller does not un-write its entry: it is queued already, and the writer
        # skips a future that was cancelled. (No asyncio.shield: one loop pass less per append.)
        await woken
        if pending.error is not None:
            raise pending.error
        assert pending.entry is not None
        return pending.entry

    def submit(self, kind: str, data: dict[str, Any]) -> None:
        """Record one entry without waiting for it to be durable (a write failure is logged).

        For entries whose loss in a crash is itself recorded: a call's outcome, whose absence
        start-up recovery turns into an explicit `call.outcome_unknown`. It is written within
        `_LINGER` seconds, or sooner with the next entry somebody waits for.
        """
        if self._closed:
            raise LedgerClosed("the ledger is stopped")
        self._queue.put(_Pending(kind, data))

    def append_blocking(self, kind: str, data: dict[str, Any]) -> StoredEntry:
        """The same from a thread with no event loop (start-up recovery, CLI)."""
        pending = _Pending(kind, data, threading.Event())
        self._queue.put(pending)
        assert pending.done is not None
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.entry is not None
        return pending.entry

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
            batch = self._batch(first)
            self._write(batch)
            if not unsettled:
                due = time.monotonic() + _SETTLE_EVERY
            unsettled += len(batch)
            if unsettled >= _MAX_UNSETTLED or time.monotonic() >= due:
                unsettled = self._settle()

    def _batch(self, first: _Pending) -> list[_Pending]:
        """`first` and what is queued behind it; if none of them is waited for, also what comes
        within the linger, up to the first entry that is."""
        batch = [first]
        waited = first.woken is not None or first.done is not None
        deadline = time.monotonic() + _LINGER
        while len(batch) < _MAX_BATCH:
            linger = 0.0 if waited else deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=linger) if linger > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
            waited = waited or item.woken is not None or item.done is not None
        return batch

    def _settle(self) -> int:
        try:
            self.store.settle()
        except Exception:  # the rows are durable; the store indexes them on its next settle or open
            logger.exception("ledger index write failed")
        return 0

    def _write(self, batch: list[_Pending]) -> None:
        seq, prev = self._seq, self._prev
        now = datetime.now(UTC).isoformat()
        entries: list[StoredEntry] = []
        for pending in batch:
            seq += 1
            entry = seal(seq, prev, now, pending.kind, pending.data)
            prev = entry.entry_hash
            entries.append(entry)
        rows = [LedgerRow(e.seq, e.body, e.entry_hash, e.leaf, **index_columns(e)) for e in entries]  # type: ignore[arg-type]
        try:
            self.store.append(rows)
        except BaseException as exc:  # nothing was written: every waiter learns it, the chain stays
            logger.exception("ledger write failed")
            for pending in batch:
                pending.error = exc
        else:
            self._seq, self._prev = seq, prev
            self._leaves.extend(e.leaf for e in entries)
            for pending, entry in zip(batch, entries, strict=True):
                pending.entry = entry
        # One wake-up per event loop for the whole batch (each call_soon_threadsafe writes to
        # the loop's self-pipe): at 32 calls in flight a batch holds many waiters.
        waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for pending in batch:
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
        note = _sign(self.store, self.key, self.origin, self._leaves[:size])
        self._signed_size = size
        return note

    async def sign_periodically(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            await anyio.to_thread.run_sync(self.checkpoint)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=30)
        self.checkpoint()
        self.store.close()


def sign_checkpoint(store: LedgerStore, key: SigningKey, origin: str) -> str | None:
    """Sign the tree head of what `store` holds now, unless the last checkpoint already covers it
    (for a process that does not own the ledger: `rollgate ledger checkpoint`)."""
    leaves = store.leaves()
    signed = max((size for size, _, _ in store.checkpoints()), default=0)
    if not leaves or len(leaves) == signed:
        return None
    return _sign(store, key, origin, leaves)


def _sign(store: LedgerStore, key: SigningKey, origin: str, leaves: list[bytes]) -> str:
    note = Checkpoint(origin, len(leaves), root(leaves), int(time.time())).sign(KEY_NAME, key.private)
    store.add_checkpoint(len(leaves), note, key.key_id)
    return note


def _settle(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a cancelled caller's future is done already
            future.set_result(None)
