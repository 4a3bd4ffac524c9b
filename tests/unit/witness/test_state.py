"""The witness's record changes only by compare-and-set: of two racing updates, one wins."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from gateway.witness.state import Witnessed, WitnessState


def record(size: int, root: bytes = b"r" * 32, origin: str = "o/1") -> Witnessed:
    return Witnessed(origin, size, root, f"note {size}\n", f"cosignature {size}\n", 1000 + size)


def test_the_first_record_of_an_origin_is_created_once(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "witness.db")
    assert state.replace(None, record(5))
    assert not state.replace(None, record(7))  # someone else created it first
    assert state.latest("o/1") == record(5)


def test_an_update_from_a_stale_record_matches_nothing(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "witness.db")
    state.replace(None, record(5))
    assert state.replace(record(5), record(9))
    assert not state.replace(record(5), record(7))  # checked against size 5, but 9 is recorded now
    assert not state.replace(record(9, root=b"x" * 32), record(12))  # same size, another root
    assert state.latest("o/1") == record(9)


def test_origins_are_recorded_apart(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "witness.db")
    state.replace(None, record(5, origin="o/1"))
    state.replace(None, record(3, origin="o/2"))
    assert (state.latest("o/1"), state.latest("o/2"), state.latest("o/3")) == (
        record(5, origin="o/1"),
        record(3, origin="o/2"),
        None,
    )
    assert record(5).cosigned_note() == "note 5\ncosignature 5\n"


def test_of_many_threads_updating_from_one_record_exactly_one_wins(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "witness.db")
    state.replace(None, record(5))
    start, wins = threading.Barrier(8), []

    def update(size: int) -> None:
        start.wait()
        if state.replace(record(5), record(size)):
            wins.append(size)

    threads = [threading.Thread(target=update, args=(6 + n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert state.latest("o/1") == record(wins[0])


def test_two_processes_sharing_the_file_cannot_both_win(tmp_path: Path) -> None:
    first, second = WitnessState(tmp_path / "witness.db"), WitnessState(tmp_path / "witness.db")
    first.replace(None, record(5))
    assert second.replace(record(5), record(8))
    assert not first.replace(record(5), record(7))
    assert first.latest("o/1") == record(8)


def test_the_state_survives_a_reopen_and_its_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "witness.db"
    state = WitnessState(path)
    state.replace(None, record(5))
    state.close()
    assert WitnessState(path).latest("o/1") == record(5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
