"""The wire format of c2sp.org/tlog-witness `add-checkpoint`: request bodies and response bodies.

    POST <submission prefix>/add-checkpoint

    old <size the client believes the witness cosigned last>
    base64(consistency proof hash)        ← zero to 63 lines, RFC 6962 §2.1.2, none when old is 0
    ...
                                          ← empty line
    <the checkpoint note, with its signature lines>

Answers: 200 with the cosignature line(s); 409 with `Content-Type: text/x.tlog.size` and the
witness's size (`<decimal>\\n`) when the old size is stale; 400, 403, 404, 409 and 422 for the
refusals `gateway.errors` lists. Pure functions; no I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.errors import MalformedSubmission, NoteFormatError
from gateway.witness.signed_note import HASH_SIZE, b64decode, decimal

ADD_CHECKPOINT = "/add-checkpoint"
SIZE_CONTENT_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
"""tlog-witness: a client MUST NOT send more than 63 consistency proof lines."""
MAX_BODY_BYTES = 128 * 1024
"""Far above any honest submission (63 hashes and a note of 64 signatures, post-quantum ones included)."""


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str
    """The checkpoint as a signed note, exactly as submitted."""


def encode_request(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    lines = [f"old {old_size}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode()


def parse_request(body: bytes) -> AddCheckpoint:
    """The submission, or MalformedSubmission (HTTP 400) saying what is wrong with it."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedSubmission(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedSubmission("the body is not UTF-8") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise MalformedSubmission("no empty line between the old size and proof lines and the checkpoint")
    first, *proof_lines = head.split("\n")
    if not first.startswith("old "):
        raise MalformedSubmission("the body must start with an old size line: old <size>")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedSubmission(f"more than {MAX_PROOF_LINES} consistency proof lines")
    try:
        old_size = decimal(first[len("old ") :], "the old size")
        proof = tuple(b64decode(line) for line in proof_lines)
    except NoteFormatError as exc:
        raise MalformedSubmission(str(exc)) from None
    if any(len(h) != HASH_SIZE for h in proof):
        raise MalformedSubmission(f"a consistency proof line is not one {HASH_SIZE}-byte hash")
    return AddCheckpoint(old_size, proof, note)


def encode_size(size: int) -> str:
    """The 409 body: the witness's latest cosigned size."""
    return f"{size}\n"


def parse_size(body: str) -> int:
    if not body.endswith("\n"):
        raise ValueError("a text/x.tlog.size body ends in a newline")
    try:
        return decimal(body[:-1], "the witness's tree size")
    except NoteFormatError as exc:
        raise ValueError(str(exc)) from None


def cosigned(note: str, lines: Sequence[str]) -> str:
    """The note with cosignature lines added (tlog-witness: the client MAY concatenate them)."""
    return note + "".join(line if line.endswith("\n") else line + "\n" for line in lines)
