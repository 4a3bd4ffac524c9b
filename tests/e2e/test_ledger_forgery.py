"""Forgeries of a real state directory, each tried as an operator with file access would: every one
is detected by `rollgate ledger verify` (naming the entry and the checkpoint), and the gateway
refuses to start on it (exit 2, nothing appended) instead of signing over it.

A forger who also holds the signing key and rewrites every copy is caught only by a witness
(`test_witness.py`)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger.entry import seal
from tests.conftest import PYTHON, ROOT, TOKEN, probe_upstream
from tests.e2e.helpers import http_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def rollgate(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [PYTHON, "-m", "gateway", "--config", str(config), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def rows(db: Path) -> list[tuple[int, bytes]]:
    with sqlite3.connect(db) as connection:
        return [(seq, bytes(body)) for seq, body in connection.execute("SELECT seq, body FROM ledger ORDER BY seq")]


def rechain(db: Path, documents: list[dict[str, Any]]) -> None:
    """Write `documents` as the whole ledger, every hash, leaf and column recomputed: what a forger
    without the key but with the database can do."""
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM ledger")
        prev = "0" * 64
        for seq, document in enumerate(documents, start=1):
            entry = seal(seq, prev, document["time"], document["kind"], document["data"])
            data = entry.document["data"]
            connection.execute(
                "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    entry.body,
                    entry.entry_hash,
                    entry.leaf,
                    document["kind"],
                    data.get("workflow"),
                    data.get("principal"),
                    data.get("tool"),
                    data.get("correlation_id"),
                    document["time"],
                ),
            )
            prev = entry.entry_hash


def documents(db: Path) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in rows(db)]


def edit_and_rechain(state: Path) -> int:
    history = documents(state / "ledger.db")
    target = next(i for i, d in enumerate(history) if d["kind"] == "call.intent")
    history[target]["data"]["arguments"] = {"text": "what the forger wanted"}
    rechain(state / "ledger.db", history)
    with sqlite3.connect(state / "ledger.db") as connection:
        connection.execute("DELETE FROM checkpoints")
    return target + 1


def delete_and_renumber(state: Path) -> int:
    history = documents(state / "ledger.db")
    target = next(i for i, d in enumerate(history) if d["kind"] == "call.intent")
    del history[target]
    rechain(state / "ledger.db", history)
    with sqlite3.connect(state / "ledger.db") as connection:
        connection.execute("DELETE FROM checkpoints")
    return target + 1


def replace_the_database(state: Path) -> int:
    """A database from a different history (another gateway's, say) put in place; journal kept."""
    other = state.parent / "other"
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm"):
        (state / name).unlink(missing_ok=True)
    shutil.copy(other / "ledger.db", state / "ledger.db")
    return 1


def damage_a_signature(state: Path) -> int:
    with sqlite3.connect(state / "ledger.db") as connection:
        (note,) = connection.execute("SELECT note FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()
        head, line = note.rstrip("\n").rsplit(" ", 1)
        damaged = f"{head} {line[:-6]}AAAAA=\n" if not line.endswith("AAAAA=") else f"{head} {line[:-6]}BBBBB=\n"
        connection.execute("UPDATE checkpoints SET note = ? WHERE note = ?", (damaged, note))
    return 0


async def make_state(start_gateway: Any, tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    gateway = start_gateway(probe_upstream(), extra=extra)
    config = next(tmp_path.glob("rollgate-*.toml"))
    async with http_client(gateway.url, TOKEN) as client:
        for n in range(3):
            await client.call_tool("probe__echo", {"text": f"call {n}"}, meta={"rollgate/workflow": "wf-1"})
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(timeout=30) == 0
    assert rollgate(config, "ledger", "verify").returncode == 0
    return config, tmp_path / "state"


Forgery = Callable[[Path], int]


@pytest.mark.parametrize(
    ("forge", "verify_says", "start_says"),
    [
        (edit_and_rechain, r"entry {n}: the database's content differs from the journal's copy", "entry {n} differs"),
        (delete_and_renumber, r"entry {n}: the database's content differs from the journal's copy", "entry {n}"),
        (replace_the_database, r"entry {n}: the database's content differs from the journal's copy", "entry {n}"),
        (damage_a_signature, r"checkpoint \(size \d+, signed 20\d\d-.*Z\) in the database: its signature", "signature"),
    ],
)
async def test_a_forged_state_directory_is_named_by_verify_and_refused_at_start(
    start_gateway: Any, tmp_path: Path, forge: Forgery, verify_says: str, start_says: str
) -> None:
    if forge is replace_the_database:  # another history to put in place
        other = tmp_path / "other"
        other.mkdir()
        history = [{"time": "2026-01-01T00:00:00+00:00", "kind": "gateway.start", "data": {"version": "x"}}] * 3
        with sqlite3.connect(other / "ledger.db") as connection:
            connection.execute(
                "CREATE TABLE ledger (seq INTEGER PRIMARY KEY, body BLOB NOT NULL, entry_hash TEXT NOT NULL, "
                "leaf BLOB NOT NULL, kind TEXT NOT NULL, workflow TEXT, principal TEXT, tool TEXT, "
                "correlation TEXT, time TEXT NOT NULL)"
            )
        rechain(other / "ledger.db", history)
    config, state = await make_state(start_gateway, tmp_path)
    n = forge(state)
    entries_before = len(rows(state / "ledger.db"))

    verified = rollgate(config, "ledger", "verify")
    assert verified.returncode == 1, verified.stdout
    assert re.search(verify_says.format(n=n), verified.stderr), verified.stderr

    started = rollgate(config, "serve", timeout=60)
    assert started.returncode == 2, started.stderr
    assert start_says.format(n=n) in started.stderr and "Traceback" not in started.stderr, started.stderr
    assert len(rows(state / "ledger.db")) == entries_before  # nothing appended over the forgery


async def test_a_forger_who_also_deletes_the_journal_is_caught_by_the_checkpoint_copy(
    start_gateway: Any, tmp_path: Path
) -> None:
    copy = tmp_path / "elsewhere" / "rollgate.checkpoint"
    config, state = await make_state(start_gateway, tmp_path, extra=f'[ledger]\ncheckpoint_copy = "{copy}"\n')
    assert copy.read_text().startswith("rollgate.local/ledger\n")
    edit_and_rechain(state)
    (state / "ledger.db.journal").unlink()

    verified = rollgate(config, "ledger", "verify")
    assert verified.returncode == 1
    assert f"in the checkpoint copy {copy}: the entries no longer have the signed root" in verified.stderr

    started = rollgate(config, "serve")
    assert started.returncode == 2 and "not an append-only extension" in started.stderr, started.stderr

    copy.unlink()  # deleting the copy as well is refused too, while the database has checkpoints
    with sqlite3.connect(state / "ledger.db") as connection:
        connection.execute("INSERT INTO checkpoints (size, note, key_id) VALUES (1, 'x', 'y')")
    started = rollgate(config, "serve")
    assert started.returncode == 2 and "checkpoint copy" in started.stderr and "missing" in started.stderr
