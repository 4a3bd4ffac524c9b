"""The newest signed checkpoint, kept where a rewrite of the ledger's database does not erase it,
and the start-up proof that the ledger being opened extends it.

A checkpoint lives in three places: the database (with every older one), the journal (each
generation starts with the newest, see `store/journal.py`), and, if the operator names one, a
copy on another path (`[ledger] checkpoint_copy`: another disk, a mount only the gateway may
write). Before the gateway appends anything, each of them must be signed by a known key and have
the root of the ledger's first `size` entries; otherwise the ledger was rewritten, cut or
replaced, and the gateway refuses to start (exit 2) instead of signing over it. Someone who can
rewrite all three, key included, is caught only by a witness (`gateway/witness/`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import LedgerTamperedError, StoreError, VerificationError
from gateway.ledger.verify import SignedHead, verify_checkpoints
from gateway.store.base import LedgerStore


def newest_heads(store: LedgerStore, copy: Path | None) -> list[SignedHead]:
    """The newest checkpoint of each place that keeps one."""
    heads: list[SignedHead] = []
    stored = store.checkpoints()
    if stored:
        heads.append(SignedHead(max(stored, key=lambda c: c[0])[1], "the database"))
    journal = store.newest_journal_checkpoint()
    if journal is not None:
        heads.append(SignedHead(journal, "the journal"))
    if copy is not None:
        kept = read_copy(copy)
        if kept is not None:
            heads.append(SignedHead(kept, f"the checkpoint copy {copy}"))
        elif heads:
            raise LedgerTamperedError(
                f"the checkpoint copy {copy} ([ledger] checkpoint_copy) is missing but the ledger has signed "
                "checkpoints: it was deleted, or the setting is new (then write it once with "
                "'rollgate ledger checkpoint' while the gateway is stopped)"
            )
    return heads


def prove_extends(store: LedgerStore, keys: Mapping[str, Ed25519PublicKey], copy: Path | None) -> None:
    """Raise `LedgerTamperedError` unless the stored ledger extends every newest checkpoint."""
    heads = newest_heads(store, copy)
    if not heads:
        return
    leaves = store.leaves()
    try:
        verify_checkpoints(leaves, heads, keys)
    except VerificationError as exc:
        raise LedgerTamperedError(
            f"the ledger is not an append-only extension of the checkpoint this gateway signed: {exc}. "
            "Nothing was appended; find out what changed ('rollgate ledger verify') before starting again"
        ) from None


def read_copy(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"the checkpoint copy {path} cannot be read ({exc.strerror})") from None


def keep_copy(path: Path, note: str) -> None:
    """Replace the copy atomically and durably (a crash leaves the old one or the new one)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.write(fd, note.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        with contextlib.suppress(NameError, OSError):
            os.unlink(temporary)
        raise StoreError(f"the checkpoint copy {path} cannot be written ({exc.strerror})") from None
