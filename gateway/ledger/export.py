"""JSONL export for long-term retention, with inclusion proofs, and its offline verifier.

    {"type": "header", "origin": ..., "checkpoint": <signed note>, "public_keys": [<PEM>, ...]}
    {"type": "entry", "seq": 1, "body": <canonical JSON text>, "entry_hash": ..., "leaf": <hex>,
     "inclusion_proof": [<hex>, ...]}          (proof against the header checkpoint's tree)

The verifier needs only this file and the public key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import ProofError, VerificationError
from gateway.ledger.entry import StoredEntry, index_columns
from gateway.ledger.keys import public_pem
from gateway.ledger.merkle import MerkleTree, root, verify_inclusion
from gateway.ledger.note import parse
from gateway.ledger.verify import Report, known_key, verify_checkpoints, verify_rows
from gateway.store.base import LedgerRow


def export_lines(rows: list[LedgerRow], note: str, origin: str, keys: Iterable[Ed25519PublicKey]) -> Iterator[str]:
    checkpoint, _ = parse(note)
    tree = MerkleTree([row.leaf for row in rows[: checkpoint.size]])
    header = {
        "type": "header",
        "origin": origin,
        "size": len(rows),
        "checkpoint": note,
        "public_keys": [public_pem(k) for k in keys],
    }
    yield json.dumps(header)
    for index, row in enumerate(rows):
        proof = [p.hex() for p in tree.inclusion_proof(index)] if index < checkpoint.size else None
        yield json.dumps(
            {
                "type": "entry",
                "seq": row.seq,
                "body": row.body.decode(),
                "entry_hash": row.entry_hash,
                "leaf": row.leaf.hex(),
                "inclusion_proof": proof,
            }
        )


def verify_export(handle: IO[str], public: Ed25519PublicKey) -> Report:
    """Verify an export with nothing but the file and the public key."""
    lines = iter(handle)
    try:
        header = json.loads(next(lines))
    except (StopIteration, ValueError):
        raise VerificationError("the export has no header line") from None
    note = header.get("checkpoint", "")
    keys = known_key(public)
    rows: list[LedgerRow] = []
    proofs: list[list[str] | None] = []
    for number, line in enumerate(lines, start=2):
        try:
            item = json.loads(line)
            body = item["body"].encode()
            leaf = hashlib.sha256(b"\x00" + body).digest()
            entry = StoredEntry(item["seq"], body, item["entry_hash"], leaf)
            columns = index_columns(entry)
        except (ValueError, KeyError, TypeError):
            raise VerificationError(f"export line {number} is not an entry", None) from None
        rows.append(LedgerRow(entry.seq, body, item["entry_hash"], leaf, **columns))  # type: ignore[arg-type]
        proofs.append(item.get("inclusion_proof"))
    leaves = verify_rows(rows)
    verify_checkpoints(leaves, [note], keys)
    checkpoint, _ = parse(note)
    for index, proof in enumerate(proofs[: checkpoint.size]):
        try:
            verify_inclusion(
                index, checkpoint.size, leaves[index], [bytes.fromhex(p) for p in proof or []], checkpoint.root
            )
        except ProofError as exc:
            raise VerificationError(f"entry {index + 1}: inclusion proof fails: {exc}", index + 1) from None
    return Report(len(leaves), 1, root(leaves))
