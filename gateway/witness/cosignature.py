"""Timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`).

A cosignature is a note signature line on the log's checkpoint:

    — <cosigner name> base64(key ID[4] || timestamp[8, big-endian] || Ed25519 signature[64])

with key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4] and the signature over

    cosignature/v1
    time <timestamp>
    <the whole checkpoint text: origin, size, root and every extension line>

Rollgate's checkpoints carry one extension line (`time <unix>`, the log's signing time): the spec
says extension lines, if present, MUST be in the signed message, so they are; a witness makes no
statement about them (tlog-cosignature §Ed25519 signed message). Pure functions; no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import CosignatureError
from gateway.witness.signed_note import COSIGNATURE_V1, NoteSignature, SignedNote, VerifierKey, key_id

HEADER = "cosignature/v1\n"
"""The signed message's first line: domain separation from every other use of the key."""
MAX_TIMESTAMP = 2**63 - 1
_SIGNATURE_SIZE = 8 + 64


@dataclass(frozen=True, slots=True)
class Cosignature:
    name: str
    timestamp: int
    line: str
    """The note signature line, final newline included."""


def signed_message(text: str, timestamp: int) -> bytes:
    """tlog-cosignature §Ed25519 signed message: header, timestamp line, then the note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"timestamp {timestamp} is out of range")
    return f"{HEADER}time {timestamp}\n{text}".encode()


def cosigner_key(name: str, public: bytes) -> VerifierKey:
    """The cosigner's verifier key (type 0x04), as `rollgate witness key` prints it."""
    return VerifierKey(name, COSIGNATURE_V1, public)


def cosign(text: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> Cosignature:
    public = key.public_key().public_bytes_raw()
    signature = key.sign(signed_message(text, timestamp))
    line = NoteSignature(name, key_id(name, COSIGNATURE_V1, public), struct.pack(">Q", timestamp) + signature).line()
    return Cosignature(name, timestamp, line)


def verify_cosignature(note: SignedNote, cosigner: VerifierKey) -> Cosignature:
    """The cosignature of `cosigner` on `note`, verified; else CosignatureError.

    The key ID is always the 0x04 one, whichever type byte the configured verifier key carries
    (an operator may paste the witness's Ed25519 key as a 0x01 vkey: the key is the same). Lines
    of other keys are ignored, as the note and witness specs require."""
    wanted = key_id(cosigner.name, COSIGNATURE_V1, cosigner.public)
    public = Ed25519PublicKey.from_public_bytes(cosigner.public)
    for signature in note.signatures:
        if signature.name != cosigner.name or signature.key_id != wanted:
            continue
        if len(signature.signature) != _SIGNATURE_SIZE:
            raise CosignatureError(f"the cosignature of {cosigner.name} is not a timestamped Ed25519 signature")
        (timestamp,) = struct.unpack(">Q", signature.signature[:8])
        try:
            public.verify(signature.signature[8:], signed_message(note.text, timestamp))
        except InvalidSignature:
            raise CosignatureError(f"the cosignature of {cosigner.name} does not verify (forged or damaged)") from None
        return Cosignature(cosigner.name, timestamp, signature.line())
    raise CosignatureError(f"no cosignature of {cosigner.name}+{wanted.hex()}")
