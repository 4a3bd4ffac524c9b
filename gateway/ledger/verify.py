"""Offline verification: hashes, chain, index columns, Merkle roots and checkpoint signatures.

Pure functions over rows and notes; the first problem raises `VerificationError` naming the entry
(or checkpoint) and what is wrong. Needs only the entries and the public keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.ledger.entry import GENESIS
from gateway.ledger.keys import KEY_NAME
from gateway.ledger.merkle import LEAF_PREFIX, ProofError, consistency_proof, root, verify_consistency
from gateway.ledger.note import Checkpoint, NoteError, key_hash, parse, verify
from gateway.store.base import LedgerRow


class VerificationError(Exception):
    """The ledger is not what was signed; `seq` names the first bad entry when there is one."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


@dataclass(frozen=True, slots=True)
class Report:
    entries: int
    checkpoints: int
    root: bytes


def verify_rows(rows: Iterable[LedgerRow]) -> list[bytes]:
    """Check every entry in order; returns the Merkle leaf hashes."""
    leaves: list[bytes] = []
    expected_seq, prev = 1, GENESIS
    for row in rows:
        if row.seq != expected_seq:
            raise VerificationError(f"entry {expected_seq} is missing (found {row.seq} in its place)", expected_seq)
        body = row.body
        if hashlib.sha256(body).hexdigest() != row.entry_hash:
            raise VerificationError(f"entry {row.seq}: its content does not match its hash (edited)", row.seq)
        try:
            document = json.loads(body)
        except ValueError:
            raise VerificationError(f"entry {row.seq}: the body is not JSON", row.seq) from None
        if document.get("seq") != row.seq:
            raise VerificationError(f"entry {row.seq}: it claims to be entry {document.get('seq')} (moved)", row.seq)
        if document.get("prev") != prev:
            raise VerificationError(f"entry {row.seq}: it does not follow entry {row.seq - 1} (chain broken)", row.seq)
        _check_columns(row, document)
        leaf = hashlib.sha256(LEAF_PREFIX + body).digest()
        if leaf != row.leaf:
            raise VerificationError(f"entry {row.seq}: its stored Merkle leaf hash is wrong", row.seq)
        leaves.append(leaf)
        prev, expected_seq = row.entry_hash, expected_seq + 1
    return leaves


def _check_columns(row: LedgerRow, document: Mapping[str, object]) -> None:
    data = document.get("data") if isinstance(document.get("data"), dict) else {}
    assert isinstance(data, dict)
    derived = (
        document.get("kind"),
        data.get("workflow"),
        data.get("principal"),
        data.get("tool"),
        data.get("correlation_id"),
        document.get("time"),
    )
    stored = (row.kind, row.workflow, row.principal, row.tool, row.correlation, row.time)
    if derived != stored:
        raise VerificationError(f"entry {row.seq}: its index columns disagree with its signed content", row.seq)


def verify_checkpoints(leaves: list[bytes], notes: Iterable[str], keys: Mapping[str, Ed25519PublicKey]) -> int:
    """Each checkpoint: a known key's valid signature, a root equal to the entries' root at its size."""
    count = 0
    for note in notes:
        checkpoint = _signed(note, keys)
        if checkpoint.size > len(leaves):
            raise VerificationError(
                f"checkpoint of size {checkpoint.size} was signed, but the ledger ends at entry {len(leaves)}: "
                f"entries {len(leaves) + 1}..{checkpoint.size} are missing (tail cut)",
                len(leaves) + 1,
            )
        if root(leaves[: checkpoint.size]) != checkpoint.root:
            raise VerificationError(
                f"checkpoint of size {checkpoint.size}: the entries no longer have the signed root", None
            )
        count += 1
    return count


def _signed(note: str, keys: Mapping[str, Ed25519PublicKey]) -> Checkpoint:
    try:
        _, signatures = parse(note)
    except NoteError as exc:
        raise VerificationError(f"checkpoint is malformed: {exc}") from None
    for name, hash_, _ in signatures:
        public = keys.get(hash_.hex())
        if name == KEY_NAME and public is not None:
            try:
                return verify(note, KEY_NAME, public)
            except NoteError as exc:
                raise VerificationError(f"checkpoint signature is forged or damaged: {exc}") from None
    names = ", ".join(f"{n}+{h.hex()}" for n, h, _ in signatures) or "none"
    raise VerificationError(f"checkpoint is signed by an unknown key ({names})")


def verify_extension(leaves: list[bytes], earlier_note: str, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Prove the current ledger is an append-only extension of an earlier checkpoint (RFC 9162 §2.1.4)."""
    earlier = _signed(earlier_note, keys)
    if earlier.size > len(leaves):
        raise VerificationError(
            f"the earlier checkpoint covers {earlier.size} entries but the ledger has {len(leaves)}", len(leaves) + 1
        )
    new_root = root(leaves)
    try:
        proof = consistency_proof(earlier.size, leaves) if earlier.size else []
        verify_consistency(earlier.size, len(leaves), earlier.root, new_root, proof)
    except ProofError as exc:
        raise VerificationError(f"not an extension of the earlier checkpoint: {exc}") from None


def verify_ledger(rows: Iterable[LedgerRow], notes: list[str], keys: Mapping[str, Ed25519PublicKey]) -> Report:
    leaves = verify_rows(rows)
    checkpoints = verify_checkpoints(leaves, notes, keys)
    return Report(len(leaves), checkpoints, root(leaves))


def known_key(public: Ed25519PublicKey) -> dict[str, Ed25519PublicKey]:
    return {key_hash(KEY_NAME, public.public_bytes_raw()).hex(): public}
