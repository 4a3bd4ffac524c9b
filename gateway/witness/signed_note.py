"""C2SP signed notes and checkpoints as any log writes them, and their Ed25519 (0x01) signatures.

The ledger's own `gateway/ledger/note.py` reads only the checkpoints Rollgate signs (one `time`
extension line, in canonical form). A witness must read any log's checkpoint, so this module
follows the specs to the letter instead: c2sp.org/signed-note (text, the last blank line, then
signature lines `— <name> base64(key ID || signature)`, verifier keys `name+hash+base64(type ||
key)`) and c2sp.org/tlog-checkpoint (origin, size, root, then opaque extension lines). Pure
functions and value objects; no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import NoteFormatError

ED25519 = 0x01
"""signed-note §Signature types: Ed25519 signatures over the note text."""
COSIGNATURE_V1 = 0x04
"""signed-note §Signature types: timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature)."""
SIGNATURE_PREFIX = "\u2014 "
MAX_SIGNATURES = 64
"""signed-note asks verifiers to accept at least 16 signatures and to bound them."""
HASH_SIZE = 32
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True, slots=True)
class SignedNote:
    text: str
    """The note text, final newline included, separating blank line excluded."""
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(signature.line() for signature in self.signatures)


@dataclass(frozen=True, slots=True)
class CheckpointText:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A note verifier key: who signs (name), with which algorithm, and the public key."""

    name: str
    algorithm: int
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.algorithm, self.public)

    def encode(self) -> str:
        blob = base64.b64encode(bytes([self.algorithm]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"


def key_id(name: str, algorithm: int, public: bytes) -> bytes:
    """signed-note §Signatures: SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([algorithm]) + public).digest()[:4]


def b64decode(text: str) -> bytes:
    """Standard base64 (RFC 4648 §4), padding required: anything else is a format error."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteFormatError(f"not base64: {text[:40]!r}") from None


def decimal(text: str, what: str) -> int:
    """An ASCII decimal with no leading zeroes, as every size and timestamp in these specs is."""
    if not _DECIMAL.fullmatch(text):
        raise NoteFormatError(f"{what} is not a decimal without leading zeroes: {text[:40]!r}")
    return int(text)


def parse_note(note: str) -> SignedNote:
    if _CONTROL.search(note):
        raise NoteFormatError("a note must not contain control characters other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteFormatError("a signed note needs a blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteFormatError("a signed note needs at least one signature line")
    if not block.endswith("\n"):
        raise NoteFormatError("every signature line must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"more than {MAX_SIGNATURES} signatures")
    return SignedNote(text, tuple(_signature(line) for line in lines))


def _signature(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteFormatError(f"not a signature line: {line[:60]!r}")
    name, _, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not valid_name(name):
        raise NoteFormatError(f"not a key name: {name[:60]!r}")
    raw = b64decode(blob)
    if len(raw) <= 4:
        raise NoteFormatError(f"the signature of {name} is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def valid_name(name: str) -> bool:
    """signed-note §Format: non-empty, with neither Unicode spaces nor plus signs."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def parse_checkpoint(text: str) -> CheckpointText:
    """tlog-checkpoint §Note text: origin, tree size, root hash, then non-empty extension lines."""
    if not text.endswith("\n"):
        raise NoteFormatError("the note text must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteFormatError("a checkpoint is at least three non-empty lines: origin, size, root")
    root = b64decode(lines[2])
    if len(root) != HASH_SIZE:
        raise NoteFormatError(f"the root hash is {len(root)} bytes, not {HASH_SIZE}")
    return CheckpointText(lines[0], decimal(lines[1], "the tree size"), root, tuple(lines[3:]))


def parse_verifier_key(vkey: str) -> VerifierKey:
    """`name+hash+base64(type || key)`; the hash must be the key ID the rest implies."""
    name, plus, rest = vkey.strip().partition("+")
    hash_hex, plus_again, blob = rest.partition("+")
    if not (plus and plus_again and valid_name(name)):
        raise NoteFormatError(f"a verifier key is name+hash+base64(type || key), not {vkey[:60]!r}")
    raw = b64decode(blob)
    if len(raw) != 1 + 32 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteFormatError(f"verifier key {name}: not an Ed25519 (0x01) or cosignature (0x04) key")
    key = VerifierKey(name, raw[0], raw[1:])
    if hash_hex != key.key_id.hex():
        raise NoteFormatError(f"verifier key {name}: its hash {hash_hex!r} is not {key.key_id.hex()}")
    return key


def signed_by(note: SignedNote, key: VerifierKey) -> bool | None:
    """Whether `note` carries a valid Ed25519 note signature of `key`: True, False if one claims to
    be `key`'s and does not verify, None if there is none. Lines of other keys are ignored, as
    signed-note requires, even when they share the name or the key ID (not both)."""
    wanted = key_id(key.name, ED25519, key.public)
    found: bool | None = None
    for signature in note.signatures:
        if signature.name != key.name or signature.key_id != wanted:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public).verify(signature.signature, note.text.encode())
        except InvalidSignature:
            return False
        found = True
    return found
