"""How every embedded store opens its SQLite file: WAL, synchronous=FULL (a commit is on disk),
a busy timeout for the other processes (CLI) that share the file, and autocommit so each store
says where its transactions begin."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.store.state_dir import private_file


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_file(path)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=30000")
    db.executescript(schema)
    return db
