"""The ledger's writer: async appends return once durable, in one chain, whatever their callers do."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import pytest

from gateway.ledger import ledger as ledger_module
from gateway.ledger.events import GatewayStop
from gateway.ledger.keys import load_or_create
from gateway.ledger.ledger import Ledger
from gateway.store import SqliteLedgerStore
from tests.unit.ledger.entries import intent, result
from tests.unit.store.test_journal import stored_seqs

pytestmark = pytest.mark.anyio


def open_ledger(directory: Path) -> Ledger:
    key, _ = load_or_create(directory)
    return Ledger(SqliteLedgerStore(directory / "ledger.db"), key, "t")


async def test_every_concurrent_append_is_woken_with_its_own_entry(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    seqs: dict[int, int] = {}

    async def append(n: int) -> None:
        seqs[n] = (await ledger.append(intent(n))).seq

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for n in range(64):
                tg.start_soon(append, n)
    ledger.close()
    assert sorted(seqs.values()) == list(range(1, 65))
    assert stored_seqs(tmp_path) == list(range(1, 65))


async def test_a_cancelled_append_is_still_written_and_the_next_one_follows_it(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    with anyio.fail_after(10):
        with anyio.CancelScope() as scope:
            scope.cancel()
            await ledger.append(intent(1))
        assert scope.cancelled_caught
        assert (await ledger.append(intent(2))).seq == 2
    ledger.close()
    assert stored_seqs(tmp_path) == [1, 2]


async def test_submitted_entries_are_written_without_waiting(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    ledger.submit(result(1))
    with anyio.fail_after(10):
        assert (await ledger.append(intent(2))).seq == 2
    ledger.close()
    assert stored_seqs(tmp_path) == [1, 2]


class CountingStore(SqliteLedgerStore):
    """The real store, counting its durable writes (one fdatasync each) and who made them."""

    writes: list[list[int]]
    writers: list[str]
    slow_first_s = 0.0
    slow_next_s = 0.0

    def append(self, rows):  # type: ignore[no-untyped-def]
        if not self.writes and self.slow_first_s:
            time.sleep(self.slow_first_s)
        if self.slow_next_s:
            slow, self.slow_next_s = self.slow_next_s, 0.0
            time.sleep(slow)
        self.writes.append([row.seq for row in rows])
        self.writers.append(threading.current_thread().name)
        super().append(rows)


def counting_ledger(directory: Path) -> tuple[Ledger, CountingStore]:
    key, _ = load_or_create(directory)
    store = CountingStore(directory / "ledger.db")
    store.writes, store.writers = [], []
    return Ledger(store, key, "t"), store


async def test_an_outcome_and_the_next_intent_share_one_durable_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The linger is long here so that a slow machine's turn-around cannot outlast it: what is tested is
    # that the held outcome rides with the next intent, not how long it waits (the next test covers that).
    monkeypatch.setattr(ledger_module, "_LINGER", 5.0)
    ledger, store = counting_ledger(tmp_path)
    with anyio.fail_after(10):
        for n in range(5):  # one call at a time: intent (waited for), then outcome (submitted)
            await ledger.append(intent(n))
            ledger.submit(result(n))
            await anyio.sleep(0.0005)  # the client's turn-around before its next call
    ledger.close()
    assert stored_seqs(tmp_path) == list(range(1, 11))
    assert store.writes[:5] == [[1], [2, 3], [4, 5], [6, 7], [8, 9]]


async def test_a_lone_submitted_entry_is_written_with_no_later_entry_to_carry_it(tmp_path: Path) -> None:
    ledger, store = counting_ledger(tmp_path)
    ledger.submit(result(1))
    with anyio.fail_after(5):
        while not store.writes:
            await anyio.sleep(0.001)
    assert store.writes == [[1]]
    ledger.close()


async def test_a_call_alone_writes_its_intent_and_the_held_outcome_on_the_event_loop(tmp_path: Path) -> None:
    ledger, store = counting_ledger(tmp_path)
    with anyio.fail_after(10):
        for n in range(3):
            await ledger.append(intent(n), alone=True)
            ledger.submit(result(n))
        await ledger.append(GatewayStop(version="t"))  # not alone: through the writer thread
    ledger.close()
    assert store.writes == [[1], [2, 3], [4, 5], [6, 7]]
    assert store.writers == ["MainThread"] * 3 + ["rollgate-ledger"]
    assert stored_seqs(tmp_path) == list(range(1, 8))


async def test_a_call_alone_queues_behind_entries_the_busy_writer_has_not_written(tmp_path: Path) -> None:
    ledger, store = counting_ledger(tmp_path)
    store.slow_first_s = 0.3
    order: list[int] = []

    async def append(n: int, alone: bool) -> None:
        order.append((await ledger.append(intent(n), alone=alone)).seq)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(append, 1, False)  # the writer thread takes it and is slow
            await anyio.sleep(0.1)
            tg.start_soon(append, 2, True)  # must not overtake it on the loop
    ledger.close()
    assert order == [1, 2]
    assert "MainThread" not in store.writers
    assert stored_seqs(tmp_path) == [1, 2]


async def test_entries_written_on_the_event_loop_reach_the_index_for_other_readers(tmp_path: Path) -> None:
    ledger, store = counting_ledger(tmp_path)
    try:
        with anyio.fail_after(5):
            await ledger.append(intent(1), alone=True)
            assert store.writers == ["MainThread"]
            while stored_seqs(tmp_path) != [1]:  # nobody reads in this process: the writer settles
                await anyio.sleep(0.01)
    finally:
        ledger.close()


async def test_an_entry_queued_soon_is_durable_when_awaited_whether_written_before_or_after(tmp_path: Path) -> None:
    ledger, store = counting_ledger(tmp_path)
    store.slow_first_s = 0.2
    with anyio.fail_after(10):
        slow = ledger.append_soon(intent(1))  # awaited while the writer is still at it
        assert (await slow).seq == 1
        assert store.writes == [[1]]
        quick = ledger.append_soon(intent(2))
        while len(store.writes) < 2:  # written before anyone awaits it: nothing to wake
            await anyio.sleep(0.001)
        assert (await quick).seq == 2
    ledger.close()
    assert stored_seqs(tmp_path) == [1, 2]


async def test_an_entry_queued_soon_by_a_call_alone_is_written_on_the_loop_once_the_caller_waits(
    tmp_path: Path,
) -> None:
    ledger, store = counting_ledger(tmp_path)
    with anyio.fail_after(10):
        durable = ledger.append_soon(intent(1), alone=True)
        assert store.writes == []  # not before the caller's next wait (it sends its request first)
        await anyio.sleep(0)
        assert store.writes == [[1]] and store.writers == ["MainThread"]
        assert (await durable).seq == 1
        store.slow_next_s = 0.3  # the writer thread's next write keeps it busy...
        busy = ledger.append_soon(intent(2))
        await anyio.sleep(0.1)
        alone = ledger.append_soon(intent(3), alone=True)  # ...so this one queues behind it
        assert [(await busy).seq, (await alone).seq] == [2, 3]
    ledger.close()
    assert store.writers == ["MainThread", "rollgate-ledger", "rollgate-ledger"]
    assert stored_seqs(tmp_path) == [1, 2, 3]
