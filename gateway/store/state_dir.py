"""The state directory: private to the gateway's user (0700, its files 0600), writable, or a
clear start-up error naming the path (exit status 2), never a traceback."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gateway.errors import StoreError


def prepare_state_dir(path: Path) -> None:
    """Create `path` (0700) if needed, narrow its mode, and prove it can be written."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StoreError(f"state directory {path}: cannot be written ({exc.strerror}); set [paths] state_dir") from None


def private_file(path: Path) -> None:
    """Make `path` exist with mode 0600 (SQLite gives its -wal and -shm files the same mode)."""
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077 and os.access(path, os.W_OK):
        os.chmod(path, 0o600)
