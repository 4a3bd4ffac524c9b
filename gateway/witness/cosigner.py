"""The witness's decision on one `add-checkpoint` submission (c2sp.org/tlog-witness §add-checkpoint).

In the spec's order: the body parses (else 400); the origin is a configured log (404); a trusted
key of that log signed the checkpoint (403; unknown keys' lines are ignored); the old size is at
most the new one (400) and is the size last cosigned for the origin (409, with that size); equal
sizes have equal roots (409); the consistency proof leads from the cosigned root to the new one
(422). Then the checkpoint is cosigned and recorded by compare-and-set: a submission that lost a
race to another is answered 409 with the winner's size. Refusals are `WitnessError`s, mapped to
HTTP statuses once, in `server.py`. The state and the clock are passed in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from gateway.errors import (
    InconsistentCheckpoint,
    MalformedSubmission,
    NoteFormatError,
    ProofError,
    SizeConflict,
    UnknownLog,
    UntrustedCheckpoint,
)
from gateway.ledger.merkle import verify_consistency
from gateway.witness.cosignature import cosign
from gateway.witness.keys import WitnessKey
from gateway.witness.protocol import AddCheckpoint, parse_request
from gateway.witness.signed_note import CheckpointText, SignedNote, VerifierKey, parse_checkpoint, parse_note, signed_by
from gateway.witness.state import Witnessed, WitnessState

logger = logging.getLogger(__name__)


class Cosigner:
    def __init__(
        self,
        key: WitnessKey,
        logs: Mapping[str, Sequence[VerifierKey]],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.logs = logs
        """The log public keys trusted for each origin."""
        self.state = state
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line for the submitted checkpoint, once recorded; else a WitnessError."""
        request = parse_request(body)
        note, checkpoint = _parse_note(request.note)
        self._check_signed(note, checkpoint.origin)
        if request.old_size > checkpoint.size:
            raise MalformedSubmission(f"old size {request.old_size} is larger than the checkpoint's {checkpoint.size}")
        current = self.state.latest(checkpoint.origin)
        known = current.size if current is not None else 0
        if request.old_size != known:
            raise SizeConflict(f"this witness last cosigned size {known} of {checkpoint.origin}", known)
        _check_consistent(request, checkpoint, current)
        cosignature = cosign(note.text, self.key.name, self.key.private, int(self.clock()))
        record = Witnessed(
            checkpoint.origin, checkpoint.size, checkpoint.root, request.note, cosignature.line, cosignature.timestamp
        )
        if not self.state.replace(current, record):
            winner = self.state.latest(checkpoint.origin)
            size = winner.size if winner is not None else 0
            raise SizeConflict(f"another checkpoint of {checkpoint.origin} was cosigned meanwhile (size {size})", size)
        logger.info("cosigned %s at size %d", checkpoint.origin, checkpoint.size)
        return cosignature.line

    def latest(self, origin: str) -> str | None:
        """The latest checkpoint cosigned for `origin`, with its cosignature (the Rollgate GET extension)."""
        record = self.state.latest(origin)
        return record.cosigned_note() if record is not None else None

    def _check_signed(self, note: SignedNote, origin: str) -> None:
        trusted = self.logs.get(origin)
        if not trusted:
            raise UnknownLog(f"this witness does not know the log {origin!r}")
        verdicts = [signed_by(note, key) for key in trusted]
        if False in verdicts:
            raise UntrustedCheckpoint(f"a signature of a trusted key of {origin} does not verify")
        if True not in verdicts:
            raise UntrustedCheckpoint(f"no signature by a key this witness trusts for {origin}")


def _parse_note(text: str) -> tuple[SignedNote, CheckpointText]:
    try:
        note = parse_note(text)
        return note, parse_checkpoint(note.text)
    except NoteFormatError as exc:
        raise MalformedSubmission(f"the checkpoint is malformed: {exc}") from None


def _check_consistent(request: AddCheckpoint, checkpoint: CheckpointText, current: Witnessed | None) -> None:
    origin = checkpoint.origin
    if current is not None and current.size == checkpoint.size and current.root != checkpoint.root:
        logger.warning("log %s signed two roots for size %d (a fork): %r", origin, checkpoint.size, request.note)
        raise SizeConflict(f"{origin} at size {checkpoint.size} was cosigned with another root")
    if current is None or request.old_size == 0:
        if request.proof:
            raise InconsistentCheckpoint("the consistency proof from size 0 must be empty")
        return
    try:
        verify_consistency(current.size, checkpoint.size, current.root, checkpoint.root, request.proof)
    except ProofError as exc:
        # tlog-witness: the request MAY be kept as evidence of misbehaviour, but is never cosigned.
        logger.warning("refused %s at size %d: %s: %r", origin, checkpoint.size, exc, request.note)
        raise InconsistentCheckpoint(f"the consistency proof from size {current.size} does not verify: {exc}") from None
