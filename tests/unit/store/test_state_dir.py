"""The state directory (`gateway/store/state_dir.py`): 0700, its files 0600, and a store error
naming the path (never a traceback) when it cannot be written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.errors import StoreError
from gateway.store.state_dir import prepare_state_dir, private_file


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_new_state_directory_is_created_private_with_its_parents(tmp_path: Path) -> None:
    state = tmp_path / "a" / "b" / "state"
    prepare_state_dir(state)
    assert state.is_dir() and mode(state) == 0o700
    assert list(state.iterdir()) == []  # the write test leaves nothing behind


def test_an_existing_state_directory_is_narrowed_to_0700(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    prepare_state_dir(state)
    assert mode(state) == 0o700


def test_a_state_directory_that_cannot_be_made_names_the_path_and_the_setting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(
        StoreError, match=rf"state directory {tmp_path / 'file' / 'state'}: cannot be written .*\[paths\] state_dir"
    ):
        prepare_state_dir(tmp_path / "file" / "state")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any mode")
def test_a_state_directory_that_cannot_be_written_is_a_store_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(tmp_path, 0o500)
    try:
        with pytest.raises(StoreError, match="cannot be written"):
            prepare_state_dir(locked)
    finally:
        os.chmod(tmp_path, 0o700)


def test_a_private_file_is_created_0600(tmp_path: Path) -> None:
    private_file(tmp_path / "x.db")
    assert (tmp_path / "x.db").read_bytes() == b"" and mode(tmp_path / "x.db") == 0o600


def test_an_existing_file_readable_by_others_is_narrowed_to_0600_and_keeps_its_content(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"kept")
    os.chmod(path, 0o644)
    private_file(path)
    assert mode(path) == 0o600 and path.read_bytes() == b"kept"


def test_a_file_that_is_already_private_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(b"kept")
    os.chmod(path, 0o400)
    private_file(path)
    assert mode(path) == 0o400
