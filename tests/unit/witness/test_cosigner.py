"""The witness's checks on add-checkpoint, in the order and with the statuses tlog-witness gives."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import InconsistentCheckpoint, MalformedSubmission, SizeConflict, UnknownLog, UntrustedCheckpoint
from gateway.ledger.merkle import consistency_proof, root
from gateway.ledger.note import Checkpoint
from gateway.witness.cosignature import cosigner_key, verify_cosignature
from gateway.witness.cosigner import Cosigner
from gateway.witness.keys import load_or_create
from gateway.witness.protocol import cosigned, encode_request
from gateway.witness.signed_note import parse_note
from gateway.witness.state import Witnessed, WitnessState
from tests.unit.witness.conftest import Log, make_log


def submit(cosigner: Cosigner, log: Log, old: int, size: int, leaves: list[bytes] | None = None) -> str:
    tree = (leaves if leaves is not None else log.leaves)[:size]
    proof = consistency_proof(old, tree) if 0 < old < size else []
    return cosigner.add_checkpoint(encode_request(old, proof, log.note(size, leaves=tree)))


def test_a_first_checkpoint_is_cosigned_and_recorded(cosigner: Cosigner, log: Log) -> None:
    line = submit(cosigner, log, 0, 10)
    key = cosigner_key(cosigner.key.name, cosigner.key.private.public_key().public_bytes_raw())
    assert verify_cosignature(parse_note(cosigned(log.note(10), [line])), key).timestamp == 1_800_000_000
    recorded = cosigner.state.latest(log.origin)
    assert recorded is not None and (recorded.size, recorded.root) == (10, root(log.leaves[:10]))
    assert cosigner.latest(log.origin) == log.note(10) + line


def test_a_consistent_extension_is_cosigned(cosigner: Cosigner, log: Log) -> None:
    submit(cosigner, log, 0, 10)
    submit(cosigner, log, 10, 23)
    submit(cosigner, log, 23, 23)  # the same checkpoint again: cosigned again
    recorded = cosigner.state.latest(log.origin)
    assert recorded is not None and recorded.size == 23


def test_an_unknown_origin_is_not_found(cosigner: Cosigner) -> None:
    stranger = make_log("other.example/log")
    with pytest.raises(UnknownLog) as refused:
        submit(cosigner, stranger, 0, 3)
    assert refused.value.status == 404


def test_a_checkpoint_signed_by_another_key_is_forbidden(cosigner: Cosigner, log: Log) -> None:
    impostor = Log(Ed25519PrivateKey.generate(), log.origin, log.leaves)
    with pytest.raises(UntrustedCheckpoint, match="no signature by a key") as refused:
        submit(cosigner, impostor, 0, 3)
    assert refused.value.status == 403


def test_a_forged_signature_of_the_trusted_key_is_forbidden(cosigner: Cosigner, log: Log) -> None:
    note = log.note(3)
    checkpoint = Checkpoint(log.origin, 3, root(log.leaves[:3]), 1)
    honest_line = note.split("\n\n")[1]
    forged = checkpoint.body() + "\n" + honest_line  # the signature of another body
    with pytest.raises(UntrustedCheckpoint, match="does not verify"):
        cosigner.add_checkpoint(encode_request(0, [], forged))


def test_unknown_signatures_beside_a_trusted_one_are_ignored(cosigner: Cosigner, log: Log) -> None:
    other = Ed25519PrivateKey.generate()
    note = log.note(3)
    extra = Checkpoint(log.origin, 3, root(log.leaves[:3]), 1_700_000_003).sign("someone-else", other)
    assert cosigner.add_checkpoint(encode_request(0, [], note + extra.split("\n\n")[1]))


def test_an_old_size_beyond_the_checkpoint_is_a_bad_request(cosigner: Cosigner, log: Log) -> None:
    with pytest.raises(MalformedSubmission, match="larger than"):
        cosigner.add_checkpoint(encode_request(5, [], log.note(3)))


def test_a_stale_old_size_is_a_conflict_that_tells_the_witness_size(cosigner: Cosigner, log: Log) -> None:
    submit(cosigner, log, 0, 10)
    with pytest.raises(SizeConflict) as refused:
        submit(cosigner, log, 0, 12)
    assert (refused.value.status, refused.value.known_size) == (409, 10)
    with pytest.raises(SizeConflict) as refused:
        submit(cosigner, log, 7, 12)
    assert refused.value.known_size == 10


def test_another_root_at_the_cosigned_size_is_a_conflict_without_a_size(cosigner: Cosigner, log: Log) -> None:
    submit(cosigner, log, 0, 10)
    with pytest.raises(SizeConflict, match="another root") as refused:
        submit(cosigner, log, 10, 10, leaves=log.rewritten(4))
    assert refused.value.known_size is None


def test_a_rewritten_log_is_refused_as_unprocessable(cosigner: Cosigner, log: Log) -> None:
    submit(cosigner, log, 0, 10)
    with pytest.raises(InconsistentCheckpoint, match="does not verify") as refused:
        submit(cosigner, log, 10, 15, leaves=log.rewritten(4))  # an honest-looking proof of the forged tree
    assert refused.value.status == 422
    recorded = cosigner.state.latest(log.origin)
    assert recorded is not None and recorded.size == 10


def test_a_proof_from_size_zero_must_be_empty(cosigner: Cosigner, log: Log) -> None:
    with pytest.raises(InconsistentCheckpoint, match="must be empty"):
        cosigner.add_checkpoint(encode_request(0, [bytes(32)], log.note(3)))


def test_of_two_racing_submissions_from_one_size_only_one_is_cosigned(
    cosigner: Cosigner, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(cosigner, log, 0, 10)
    both_checked = threading.Barrier(2)
    replace = cosigner.state.replace

    def replace_once_both_were_checked(expected: Witnessed | None, new: Witnessed) -> bool:
        both_checked.wait()  # each was checked against size 10 before either records
        return replace(expected, new)

    monkeypatch.setattr(cosigner.state, "replace", replace_once_both_were_checked)
    outcomes: dict[int, str | SizeConflict] = {}

    def run(size: int) -> None:
        try:
            outcomes[size] = submit(cosigner, log, 10, size)
        except SizeConflict as exc:
            outcomes[size] = exc

    threads = [threading.Thread(target=run, args=(size,)) for size in (20, 30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (winner,) = (size for size, outcome in outcomes.items() if isinstance(outcome, str))
    (loser,) = (outcome for outcome in outcomes.values() if isinstance(outcome, SizeConflict))
    recorded = cosigner.state.latest(log.origin)
    assert recorded is not None and loser.known_size == winner == recorded.size


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_extension_is_cosigned_and_any_rewrite_of_what_was_cosigned_is_not(data: st.DataObject) -> None:
    log = make_log(entries=24)
    first = data.draw(st.integers(1, 23), label="first size")
    second = data.draw(st.integers(first, 24), label="second size")
    edited = data.draw(st.integers(1, first), label="rewritten entry")
    with tempfile.TemporaryDirectory() as directory:
        state = WitnessState(Path(directory) / "witness.db")
        key, _ = load_or_create(Path(directory) / "key")
        cosigner = Cosigner(key, {log.origin: (log.vkey,)}, state)
        submit(cosigner, log, 0, first)
        with pytest.raises(SizeConflict if second == first else InconsistentCheckpoint):
            submit(cosigner, log, first, second, leaves=log.rewritten(edited))
        submit(cosigner, log, first, second)
        recorded = state.latest(log.origin)
        state.close()
    assert recorded is not None and (recorded.size, recorded.root) == (second, root(log.leaves[:second]))
