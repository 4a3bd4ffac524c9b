"""Checkpoints in the signed-note format used by transparency logs (C2SP signed-note, tlog-checkpoint).

    rollgate.local/ledger            ← origin
    1234                             ← tree size
    base64(root hash)                ← RFC 9162 root
    time 1795549321                  ← extension line: signing time (unix seconds)
                                     ← blank line
    — rollgate-ledger base64(key hash[4] || Ed25519 signature)

The key hash is the first four bytes of SHA-256(name || "\\n" || 0x01 || public key), 0x01 being
the Ed25519 algorithm byte. Pure functions and value objects; no I/O.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import NoteError

ED25519_ALGORITHM = b"\x01"
SIGNATURE_PREFIX = "\u2014 "


def key_hash(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + public).digest()[:4]


def verifier_key(name: str, public: bytes) -> str:
    """The note verifier key string: name+hash+base64(0x01 || key)."""
    return f"{name}+{key_hash(name, public).hex()}+{base64.b64encode(ED25519_ALGORITHM + public).decode()}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: int

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\ntime {self.time}\n"

    def sign(self, name: str, key: Ed25519PrivateKey) -> str:
        public = key.public_key().public_bytes_raw()
        signature = key.sign(self.body().encode())
        line = base64.b64encode(key_hash(name, public) + signature).decode()
        return f"{self.body()}\n{SIGNATURE_PREFIX}{name} {line}\n"


def parse(note: str) -> tuple[Checkpoint, list[tuple[str, bytes, bytes]]]:
    """The checkpoint and its signature lines (name, key hash, signature)."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise NoteError("a signed note needs a blank line before its signatures")
    lines = body.split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint needs origin, size and root lines")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
        time = next((int(line.split(" ", 1)[1]) for line in lines[3:] if line.startswith("time ")), 0)
    except ValueError:  # binascii.Error is a ValueError
        raise NoteError("checkpoint size, root or time is malformed") from None
    if size < 0 or len(root) != 32:  # c2sp.org/tlog-checkpoint: a tree size, and a SHA-256 root
        raise NoteError(f"checkpoint size {size} or a root of {len(root)} bytes is not a tree's")
    parsed: list[tuple[str, bytes, bytes]] = []
    for line in signatures.strip("\n").split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"not a signature line: {line!r}")
        name, _, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(blob, validate=True)
        except ValueError:
            raise NoteError(f"signature of {name!r} is not base64") from None
        if len(raw) < 5:
            raise NoteError(f"signature of {name!r} is too short to carry a key hash and a signature")
        parsed.append((name, raw[:4], raw[4:]))
    checkpoint = Checkpoint(lines[0], size, root, time)
    if checkpoint.body() != body + "\n":
        raise NoteError("checkpoint body is not in canonical form")
    return checkpoint, parsed


def verify(note: str, name: str, public: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint, if `note` carries a valid signature by (name, public); else NoteError."""
    checkpoint, signatures = parse(note)
    raw = public.public_bytes_raw()
    wanted = key_hash(name, raw)
    for signer, hash_, signature in signatures:
        if signer == name and hash_ == wanted:
            try:
                public.verify(signature, checkpoint.body().encode())
            except InvalidSignature:
                raise NoteError(f"the signature of {name} does not verify") from None
            return checkpoint
    raise NoteError(f"the note carries no signature of key {name}+{wanted.hex()}")
