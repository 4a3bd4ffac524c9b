"""`rollgate ledger verify --witness`: is the local ledger the one the witnesses saw?

A forger holding the signing key can rewrite every local copy (entries, checkpoints, journal) and
re-sign it, and local verification passes. What they cannot rewrite is a witness's record: the
latest checkpoint it cosigned. So for each configured witness: fetch that record (the Rollgate
`GET /checkpoint/<origin>` extension, see `server.py`), verify the witness's cosignature with its
configured key and the log's signature with the local known keys, and require the local ledger to
contain it: the witnessed size at most the local size, and the root of the first `size` local
entries equal to the witnessed root (the local tree then extends the witnessed one, RFC 9162
§2.1.4, with no proof needed). The check is pure (`check_witnessed`); fetching is the thin edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import stamina
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.config import WitnessConfig
from gateway.errors import CosignatureError, NoteFormatError, VerificationError
from gateway.ledger.keys import KEY_NAME
from gateway.ledger.merkle import root
from gateway.witness.cosignature import verify_cosignature
from gateway.witness.signed_note import (
    ED25519,
    CheckpointText,
    VerifierKey,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    signed_by,
)

CHECKPOINT_PATH = "/checkpoint/"


@dataclass(frozen=True, slots=True)
class WitnessedHead:
    """A witness's latest cosigned checkpoint, found contained in the local ledger."""

    witness: str
    """The witness's cosigner name and URL, as messages name it."""
    size: int
    root: bytes
    signed_at: int
    """The log's signing time (the checkpoint's `time` extension line; 0 if it has none)."""
    cosigned_at: int

    def describe(self) -> str:
        return f"{self.witness} cosigned {_checkpoint(self.size, self.signed_at)} at {_when(self.cosigned_at)}"


def check_witnessed(
    leaves: Sequence[bytes],
    origin: str,
    note: str,
    witness: WitnessConfig,
    log_keys: Mapping[str, Ed25519PublicKey],
) -> WitnessedHead:
    """`note` (a witness's record) is a checkpoint of `origin` cosigned by `witness`, signed by a
    local key, and contained in the ledger whose Merkle leaf hashes are `leaves`; else
    VerificationError naming the witness and the checkpoint."""
    try:
        cosigner = parse_verifier_key(witness.verifier_key)
    except NoteFormatError as exc:
        raise VerificationError(f"[[ledger.witnesses]] {witness.url}: verifier_key: {exc}") from None
    who = f"witness {cosigner.name} ({witness.url})"
    try:
        signed = parse_note(note)
        checkpoint = parse_checkpoint(signed.text)
        cosignature = verify_cosignature(signed, cosigner)
    except (NoteFormatError, CosignatureError) as exc:
        raise VerificationError(f"{who}: its checkpoint is not validly cosigned: {exc}") from None
    name = f"{who}: {_checkpoint(checkpoint.size, _signed_at(checkpoint))} cosigned {_when(cosignature.timestamp)}"
    if checkpoint.origin != origin:
        raise VerificationError(f"{name} is of the log {checkpoint.origin!r}, not {origin!r}")
    keys = [VerifierKey(KEY_NAME, ED25519, public.public_bytes_raw()) for public in log_keys.values()]
    if True not in (signed_by(signed, key) for key in keys):
        raise VerificationError(f"{name} is not signed by a key of this ledger")
    if checkpoint.size > len(leaves):
        raise VerificationError(
            f"{name}, but the local ledger has only {len(leaves)} entries: entries "
            f"{len(leaves) + 1}..{checkpoint.size} were cut, or the ledger was replaced",
            len(leaves) + 1,
        )
    if root(leaves[: checkpoint.size]) != checkpoint.root:
        raise VerificationError(
            f"{name}, but the local ledger's first {checkpoint.size} entries have another root: "
            "the ledger was rewritten after the witness saw it"
        )
    signed_at = _signed_at(checkpoint)
    return WitnessedHead(who, checkpoint.size, checkpoint.root, signed_at, cosignature.timestamp)


def check_witnesses(
    leaves: Sequence[bytes],
    origin: str,
    witnesses: Sequence[WitnessConfig],
    log_keys: Mapping[str, Ed25519PublicKey],
    *,
    client: httpx.Client | None = None,
) -> list[WitnessedHead]:
    """Every configured witness's record of `origin`, each checked against `leaves`."""
    if not witnesses:
        raise VerificationError("no witness is configured ([[ledger.witnesses]] in rollgate.toml)")
    http = client or httpx.Client(timeout=10.0)
    try:
        return [
            check_witnessed(leaves, origin, fetch_cosigned(http, witness, origin), witness, log_keys)
            for witness in witnesses
        ]
    finally:
        if client is None:
            http.close()


def fetch_cosigned(http: httpx.Client, witness: WitnessConfig, origin: str) -> str:
    """The witness's latest cosigned checkpoint of `origin` (a Rollgate extension of tlog-witness)."""
    url = witness.url.rstrip("/") + CHECKPOINT_PATH + quote(origin, safe="")
    try:
        response = _get(http, url)
    except httpx.HTTPError as exc:
        raise VerificationError(f"witness {witness.url}: cannot be reached ({type(exc).__name__}: {exc})") from None
    if response.status_code == 404:
        raise VerificationError(f"witness {witness.url} has cosigned no checkpoint of {origin}")
    if response.status_code != 200:
        raise VerificationError(f"witness {witness.url}: HTTP {response.status_code} for {url}")
    return response.text


@stamina.retry(on=httpx.TransportError, attempts=3, timeout=30.0, wait_initial=0.2, wait_max=2.0)
def _get(http: httpx.Client, url: str) -> httpx.Response:
    return http.get(url)


def _signed_at(checkpoint: CheckpointText) -> int:
    stamp = next((line[len("time ") :] for line in checkpoint.extensions if line.startswith("time ")), "")
    return int(stamp) if stamp.isdecimal() else 0


def _checkpoint(size: int, signed_at: int) -> str:
    return f"checkpoint (size {size}, signed {_when(signed_at) if signed_at else '?'})"


def _when(timestamp: int) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # a timestamp beyond year 9999 is still worth naming
        return f"unix time {timestamp}"
