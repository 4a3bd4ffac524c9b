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

One process owns a journal: it holds an exclusive `flock` on it, so a second gateway (or a CLI
command that would append) on the same ledger is refused instead of forking the hash chain.
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
from gateway.store.base import LedgerRow

_HEADER = struct.Struct("<II")
_CHUNK = 4 << 20
"""Blocks are written with zeros this many bytes at a time, ahead of the records."""
JOURNAL_LIMIT = 64 << 20
"""Past this size the journal starts again at 0, once SQLite has checkpointed."""
_MAX_FRAME = 256 << 20


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
        self._started = False  # no appends before `restart`: recovery reads the file first

    # -- reading (start-up) -------------------------------------------------------------------

    def records(self) -> Iterator[LedgerRow]:
        """The current generation's records, oldest first."""
        last = None
        for row in _scan(self._fd, self._allocated):
            if last is not None and row.seq != last + 1:
                return
            last = row.seq
            yield row

    def recover(self, tail: int) -> list[LedgerRow]:
        """Records newer than the index's tail seq, which the index lost (power loss); they must
        continue it exactly. The caller makes the index durable, then calls `restart`."""
        newer = [row for row in self.records() if row.seq > tail]
        if newer and newer[0].seq != tail + 1:
            raise StoreError(
                f"the ledger journal {self.path} starts again at entry {newer[0].seq} but the database "
                f"ends at entry {tail}: entries {tail + 1}..{newer[0].seq - 1} are missing from both"
            )
        return newer

    # -- writing ------------------------------------------------------------------------------

    def append(self, rows: Sequence[LedgerRow]) -> None:
        """Write the rows and make them durable before returning."""
        if not self._started:
            raise StoreError(f"the ledger journal {self.path} was not recovered before appending")
        if not rows:
            return
        if self._last_seq is not None and rows[0].seq != self._last_seq + 1:
            raise StoreError(f"journal append out of order: entry {rows[0].seq} after {self._last_seq}")
        data = b"".join(_frame(row) for row in rows)
        end = self._offset + len(data)
        if end > self._allocated:
            self._grow(max(self._chunk, end - self._allocated))
        written = os.pwrite(self._fd, data, self._offset)
        if written != len(data):
            raise StoreError(f"short write to the ledger journal {self.path}: {written} of {len(data)} bytes")
        os.fdatasync(self._fd)
        self._offset, self._last_seq = end, rows[-1].seq

    @property
    def full(self) -> bool:
        return self._offset >= self._limit

    def restart(self) -> None:
        """Start the next generation at offset 0. Only once the index holds every record durably."""
        self._offset, self._last_seq, self._started = 0, None, True
        if self._allocated < self._chunk:
            self._grow(self._chunk - self._allocated)

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


def _scan(fd: int, size: int) -> Iterator[LedgerRow]:
    """Frames from offset 0 until the first one that is empty, torn or unreadable."""
    offset = 0
    while offset + _HEADER.size <= size:
        length, crc = _HEADER.unpack(os.pread(fd, _HEADER.size, offset))
        if length == 0 or length > _MAX_FRAME or offset + _HEADER.size + length > size:
            return
        payload = os.pread(fd, length, offset + _HEADER.size)
        if len(payload) != length or zlib.crc32(payload) != crc:
            return
        try:
            header, body = payload.split(b"\n", 1)
            seq, entry_hash, leaf, kind, workflow, principal, tool, correlation, time = json.loads(header)
            row = LedgerRow(
                seq, body, entry_hash, bytes.fromhex(leaf), kind, workflow, principal, tool, correlation, time
            )
        except (ValueError, TypeError, AttributeError):
            return
        offset += _HEADER.size + length
        yield row
