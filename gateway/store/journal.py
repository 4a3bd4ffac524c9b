"""The ledger's journal: the file that makes an entry durable before SQLite indexes it.

An append is one `pwrite` of framed records into a file whose blocks were written (with zeros)
ahead of time, then one `fdatasync`. Overwriting blocks that already exist changes no file
metadata, so that fdatasync is the cheapest durable write the disk offers (about 100 µs here,
against about 150–270 µs for a SQLite commit with synchronous=FULL). SQLite stays the index
every reader uses; it commits with synchronous=NORMAL, which in WAL mode survives a crash of
the process, and the journal covers the rest (power loss): on open, records newer than the
index's tail are put back into it.

Frame: `u32 length, u32 crc32, payload`; payload is a JSON line `[seq, entry_hash, leaf (hex),
kind, workflow, principal, tool, correlation, time]` followed by the entry's body as it is. Seqs
in the file are consecutive. When the file has grown past its limit and SQLite holds everything
durably, the journal starts again at offset 0, overwriting the previous generation in place: a scan stops at
the first frame that is torn (bad length or CRC) or whose seq does not follow the one before, so
an older generation's leftovers are never read as new records.

A generation goes on across restarts: an owner that opens the journal appends after the last
record it finds, so the journal keeps what it holds (the authoritative copy of its records:
`rollgate ledger verify` compares the database with it) until it is full.

The journal also holds the ledger's signed checkpoints (frame header `["checkpoint", size]`, the
signed note as payload), and every generation starts with the newest one: whoever rewrites or
replaces the database still finds, here, the tree head the gateway last signed, and the gateway
refuses to start on a ledger that does not extend it.

One process owns a journal: it holds an exclusive `flock` on it, so a second gateway (or a CLI
command that would append) on the same ledger is refused instead of forking the hash chain.
Readers (`read_journal`) take no lock: a frame being written at that moment reads as torn.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from gateway.errors import LedgerBusyError, StoreError
from gateway.store.base import JournalCheckpoint, JournalContents, LedgerRow

_HEADER = struct.Struct("<II")
_CHUNK = 4 << 20
"""Blocks are written with zeros this many bytes at a time, ahead of the records."""
JOURNAL_LIMIT = 64 << 20
"""Past this size the journal starts again at 0, once SQLite has checkpointed."""
_MAX_FRAME = 256 << 20
_CHECKPOINT = "checkpoint"


def read_journal(path: Path) -> JournalContents | None:
    """The journal at `path` as a reader sees it (no lock); None when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return _contents(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, path: Path, *, chunk: int = _CHUNK, limit: int = JOURNAL_LIMIT) -> None:
        self.path = path
        self._chunk = min(chunk, limit)
        self._limit = limit
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise LedgerBusyError(
                f"another process (a running gateway?) is writing to the ledger journal {path}; "
                "stop it first, or read the ledger with 'rollgate ledger show|verify|export'"
            ) from None
        self._allocated = os.fstat(self._fd).st_size
        self._offset = 0
        self._last_seq: int | None = None
        self._started = False  # no appends before `resume`: recovery reads the file first
        self._found = JournalContents()
        self._anchor: JournalCheckpoint | None = None

    # -- reading (start-up) -------------------------------------------------------------------

    def contents(self) -> JournalContents:
        """The current generation as it is on disk now."""
        return _contents(self._fd, self._allocated)

    def records(self) -> Iterator[LedgerRow]:
        """The current generation's records, oldest first."""
        yield from self.contents().rows

    def recover(self, tail: int) -> list[LedgerRow]:
        """Records newer than the index's tail seq, which the index lost (power loss); they must
        continue it exactly. The caller makes the index durable, then calls `resume`."""
        self._found = self.contents()
        newer = [row for row in self._found.rows if row.seq > tail]
        if newer and newer[0].seq != tail + 1:
            raise StoreError(
                f"the ledger journal {self.path} starts again at entry {newer[0].seq} but the database "
                f"ends at entry {tail}: entries {tail + 1}..{newer[0].seq - 1} are missing from both"
            )
        return newer

    @property
    def newest_checkpoint(self) -> JournalCheckpoint | None:
        """The newest signed checkpoint the journal holds (read by `recover`, then kept up to date)."""
        return self._anchor

    # -- writing ------------------------------------------------------------------------------

    def append(self, rows: Sequence[LedgerRow]) -> None:
        """Write the rows and make them durable before returning."""
        if not self._started:
            raise StoreError(f"the ledger journal {self.path} was not recovered before appending")
        if not rows:
            return
        if self._last_seq is not None and rows[0].seq != self._last_seq + 1:
            raise StoreError(f"journal append out of order: entry {rows[0].seq} after {self._last_seq}")
        self._write(b"".join(_frame(row) for row in rows))
        self._last_seq = rows[-1].seq

    def _write(self, data: bytes) -> None:
        """Write frames at the end of the generation and make them durable."""
        end = self._offset + len(data)
        if end > self._allocated:
            self._grow(max(self._chunk, end - self._allocated))
        written = os.pwrite(self._fd, data, self._offset)
        if written != len(data):
            raise StoreError(f"short write to the ledger journal {self.path}: {written} of {len(data)} bytes")
        os.fdatasync(self._fd)
        self._offset = end

    @property
    def full(self) -> bool:
        return self._offset >= self._limit

    def resume(self, tail: int) -> None:
        """Go on appending after the records `recover` found, once the index holds them all and
        ends at `tail`; or start a new generation if the journal does not end there (new, or
        its records are older than the index's)."""
        found = self._found
        self._anchor = found.newest_checkpoint
        if found.rows and found.rows[-1].seq == tail:
            self._offset, self._last_seq, self._started = found.end, tail, True
        else:
            self.restart()

    def restart(self) -> None:
        """Start the next generation at offset 0, with the newest checkpoint as its first frame.
        Only once the index holds every record durably."""
        self._offset, self._last_seq, self._started = 0, None, True
        if self._allocated < self._chunk:
            self._grow(self._chunk - self._allocated)
        if self._anchor is not None:
            self._write(_checkpoint_frame(self._anchor))

    def add_checkpoint(self, size: int, note: str) -> None:
        """Keep a signed checkpoint, durably, after the records it covers."""
        if not self._started:
            raise StoreError(f"the ledger journal {self.path} was not recovered before appending")
        checkpoint = JournalCheckpoint(size, note)
        self._write(_checkpoint_frame(checkpoint))
        if self._anchor is None or size >= self._anchor.size:
            self._anchor = checkpoint

    def _grow(self, size: int) -> None:
        os.pwrite(self._fd, bytes(size), self._allocated)
        os.fdatasync(self._fd)
        self._allocated += size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the flock
            self._fd = -1


_encode_header = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
"""Built once: `json.dumps` with options builds an encoder per call, a third of a frame's cost."""


def _checkpoint_frame(checkpoint: JournalCheckpoint) -> bytes:
    payload = b"%s\n%s" % (_encode_header([_CHECKPOINT, checkpoint.size]).encode(), checkpoint.note.encode())
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _frame(row: LedgerRow) -> bytes:
    header = _encode_header(
        [
            row.seq,
            row.entry_hash,
            row.leaf.hex(),
            row.kind,
            row.workflow,
            row.principal,
            row.tool,
            row.correlation,
            row.time,
        ]
    ).encode()
    payload = b"%s\n%s" % (header, row.body)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _contents(fd: int, size: int) -> JournalContents:
    """The current generation: frames from offset 0 until the first that is empty, torn or
    unreadable, or a record whose seq does not follow the one before (an older generation)."""
    contents = JournalContents()
    last = None
    for end, frame in _scan(fd, size):
        if isinstance(frame, JournalCheckpoint):
            contents.checkpoints.append(frame)
        else:
            if last is not None and frame.seq != last + 1:
                break
            last = frame.seq
            contents.rows.append(frame)
        contents.end = end
    return contents


def _scan(fd: int, size: int) -> Iterator[tuple[int, LedgerRow | JournalCheckpoint]]:
    """(end offset, frame) from offset 0 until the first frame that is empty, torn or unreadable."""
    offset = 0
    while offset + _HEADER.size <= size:
        length, crc = _HEADER.unpack(os.pread(fd, _HEADER.size, offset))
        if length == 0 or length > _MAX_FRAME or offset + _HEADER.size + length > size:
            return
        payload = os.pread(fd, length, offset + _HEADER.size)
        if len(payload) != length or zlib.crc32(payload) != crc:
            return
        try:
            frame = _parse(payload)
        except (ValueError, TypeError, AttributeError):
            return
        offset += _HEADER.size + length
        yield offset, frame


def _parse(payload: bytes) -> LedgerRow | JournalCheckpoint:
    header, body = payload.split(b"\n", 1)
    fields = json.loads(header)
    if fields[0] == _CHECKPOINT:
        size = fields[1]
        if not isinstance(size, int):
            raise TypeError("checkpoint size")
        return JournalCheckpoint(size, body.decode())
    seq, entry_hash, leaf, kind, workflow, principal, tool, correlation, time = fields
    return LedgerRow(seq, body, entry_hash, bytes.fromhex(leaf), kind, workflow, principal, tool, correlation, time)
