"""verify --witness: the local ledger must contain each witness's latest cosigned checkpoint."""

from __future__ import annotations

import httpx
import pytest
import stamina
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.config import WitnessConfig
from gateway.errors import VerificationError
from gateway.ledger.keys import KEY_NAME
from gateway.ledger.note import key_hash
from gateway.witness.audit import check_witnessed, check_witnesses
from gateway.witness.cosignature import cosign
from gateway.witness.cosigner import Cosigner
from gateway.witness.protocol import cosigned, encode_request
from gateway.witness.signed_note import parse_note
from tests.unit.witness.conftest import Log, make_log


def keys_of(log: Log) -> dict[str, Ed25519PublicKey]:
    public = log.key.public_key()
    return {key_hash(KEY_NAME, public.public_bytes_raw()).hex(): public}


@pytest.fixture
def witnessed(cosigner: Cosigner, log: Log) -> str:
    """What the witness holds after cosigning the log at size 12."""
    cosigner.add_checkpoint(encode_request(0, [], log.note(12)))
    note = cosigner.latest(log.origin)
    assert note is not None
    return note


def test_a_ledger_that_extends_the_witnessed_checkpoint_passes(
    log: Log, witness: WitnessConfig, witnessed: str
) -> None:
    head = check_witnessed(log.leaves[:30], log.origin, witnessed, witness, keys_of(log))
    assert (head.size, head.cosigned_at, head.signed_at) == (12, 1_800_000_000, 1_700_000_012)
    assert "cosigned checkpoint (size 12, signed 2023-11-14T22:13:32Z) at 2027-01-15T08:00:00Z" in head.describe()


def test_a_rewritten_ledger_fails_naming_the_witness_and_the_checkpoint(
    log: Log, witness: WitnessConfig, witnessed: str
) -> None:
    with pytest.raises(VerificationError) as failed:
        check_witnessed(log.rewritten(5), log.origin, witnessed, witness, keys_of(log))
    message = str(failed.value)
    assert "witness rollgate.local/witness (http://witness.test)" in message
    assert "checkpoint (size 12, signed 2023-11-14T22:13:32Z)" in message
    assert "rewritten after the witness saw it" in message


def test_a_ledger_cut_below_the_witnessed_size_fails(log: Log, witness: WitnessConfig, witnessed: str) -> None:
    with pytest.raises(VerificationError, match="has only 9 entries") as failed:
        check_witnessed(log.leaves[:9], log.origin, witnessed, witness, keys_of(log))
    assert failed.value.seq == 10


def test_a_forged_cosignature_fails(log: Log, witness: WitnessConfig, witnessed: str) -> None:
    note = log.note(12)
    forged = cosign(parse_note(note).text, "rollgate.local/witness", Ed25519PrivateKey.generate(), 1).line
    with pytest.raises(VerificationError, match="not validly cosigned"):
        check_witnessed(log.leaves, log.origin, cosigned(note, [forged]), witness, keys_of(log))


def test_a_witnessed_checkpoint_not_signed_by_a_local_key_fails(
    log: Log, witness: WitnessConfig, witnessed: str
) -> None:
    with pytest.raises(VerificationError, match="not signed by a key of this ledger"):
        check_witnessed(log.leaves, log.origin, witnessed, witness, keys_of(make_log()))


def test_a_checkpoint_of_another_origin_fails(log: Log, witness: WitnessConfig, witnessed: str) -> None:
    with pytest.raises(VerificationError, match="is of the log"):
        check_witnessed(log.leaves, "another/origin", witnessed, witness, keys_of(log))


def test_a_witness_that_cosigned_nothing_or_none_configured_fails(log: Log, witness: WitnessConfig) -> None:
    def nothing(request: httpx.Request) -> httpx.Response:
        assert request.url.raw_path == b"/checkpoint/test.example%2Flog"
        return httpx.Response(404)

    with (
        httpx.Client(transport=httpx.MockTransport(nothing)) as client,
        pytest.raises(VerificationError, match="has cosigned no checkpoint of test.example/log"),
    ):
        check_witnesses(log.leaves, log.origin, [witness], keys_of(log), client=client)
    with pytest.raises(VerificationError, match="no witness is configured"):
        check_witnesses(log.leaves, log.origin, [], keys_of(log))


def test_a_witness_that_cannot_be_reached_fails_after_retries(log: Log, witness: WitnessConfig) -> None:
    attempts: list[int] = []

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        raise httpx.ConnectError("connection refused", request=request)

    with (
        stamina.set_testing(True, attempts=3),
        httpx.Client(transport=httpx.MockTransport(down)) as client,
        pytest.raises(VerificationError, match="http://witness.test: cannot be reached"),
    ):
        check_witnesses(log.leaves, log.origin, [witness], keys_of(log), client=client)
    assert len(attempts) == 3
