"""cosignature/v1: the signed message, the 0x04 key ID, and forged or altered cosignatures."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import CosignatureError
from gateway.witness.cosignature import cosign, cosigner_key, signed_message, verify_cosignature
from gateway.witness.protocol import cosigned
from gateway.witness.signed_note import ED25519, VerifierKey, parse_note
from tests.unit.witness.conftest import Log

NAME = "witness.test/w1"


@pytest.fixture
def witness_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def test_the_signed_message_is_header_time_line_then_the_whole_checkpoint_text() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\ntime 5\n"
    assert signed_message(text, 1679315147) == (b"cosignature/v1\ntime 1679315147\n" + text.encode())


def test_a_cosignature_line_carries_the_0x04_key_id_the_timestamp_and_the_signature(
    log: Log, witness_key: Ed25519PrivateKey
) -> None:
    note = log.note(9)
    text = parse_note(note).text
    cosignature = cosign(text, NAME, witness_key, 1_800_000_000)
    name, blob = cosignature.line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(blob)
    assert name == NAME
    assert raw[:4] == hashlib.sha256(NAME.encode() + b"\n\x04" + public(witness_key)).digest()[:4]
    assert struct.unpack(">Q", raw[4:12]) == (1_800_000_000,)
    witness_key.public_key().verify(raw[12:], b"cosignature/v1\ntime 1800000000\n" + text.encode())


def test_a_cosignature_verifies_with_the_witness_verifier_key(log: Log, witness_key: Ed25519PrivateKey) -> None:
    note = log.note(9)
    line = cosign(parse_note(note).text, NAME, witness_key, 1234).line
    found = verify_cosignature(parse_note(cosigned(note, [line])), cosigner_key(NAME, public(witness_key)))
    assert (found.timestamp, found.line) == (1234, line)


def test_a_verifier_key_of_type_0x01_for_the_same_key_also_verifies(log: Log, witness_key: Ed25519PrivateKey) -> None:
    note = log.note(3)
    line = cosign(parse_note(note).text, NAME, witness_key, 1).line
    assert verify_cosignature(parse_note(cosigned(note, [line])), VerifierKey(NAME, ED25519, public(witness_key)))


def test_a_forged_cosignature_does_not_verify(log: Log, witness_key: Ed25519PrivateKey) -> None:
    note = log.note(9)
    forger = Ed25519PrivateKey.generate()
    genuine = cosign(parse_note(note).text, NAME, witness_key, 77).line
    raw = base64.b64decode(genuine.split(" ")[2])
    forged_signature = forger.sign(signed_message(parse_note(note).text, 77))
    forged = f"\u2014 {NAME} {base64.b64encode(raw[:12] + forged_signature).decode()}\n"
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignature(parse_note(cosigned(note, [forged])), cosigner_key(NAME, public(witness_key)))


def test_a_cosignature_moved_to_another_timestamp_does_not_verify(log: Log, witness_key: Ed25519PrivateKey) -> None:
    note = log.note(9)
    raw = bytearray(base64.b64decode(cosign(parse_note(note).text, NAME, witness_key, 77).line.split(" ")[2]))
    raw[4:12] = struct.pack(">Q", 78)
    moved = f"\u2014 {NAME} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignature(parse_note(cosigned(note, [moved])), cosigner_key(NAME, public(witness_key)))


def test_a_cosignature_does_not_carry_over_to_a_checkpoint_with_another_extension_line(
    log: Log, witness_key: Ed25519PrivateKey
) -> None:
    line = cosign(parse_note(log.note(9)).text, NAME, witness_key, 5).line
    other = log.note(9, time=1_600_000_000)  # same tree, another `time` line
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignature(parse_note(cosigned(other, [line])), cosigner_key(NAME, public(witness_key)))


def test_cosignatures_of_other_keys_are_ignored(log: Log, witness_key: Ed25519PrivateKey) -> None:
    note = log.note(9)
    stranger = cosign(parse_note(note).text, NAME, Ed25519PrivateKey.generate(), 5).line  # same name, other key
    with pytest.raises(CosignatureError, match="no cosignature of"):
        verify_cosignature(parse_note(cosigned(note, [stranger])), cosigner_key(NAME, public(witness_key)))
    mine = cosign(parse_note(note).text, NAME, witness_key, 6).line
    assert verify_cosignature(parse_note(cosigned(note, [stranger, mine])), cosigner_key(NAME, public(witness_key)))


def test_a_timestamp_beyond_2_63_is_refused(witness_key: Ed25519PrivateKey) -> None:
    with pytest.raises(CosignatureError, match="out of range"):
        cosign("o\n1\nAAAA\n", NAME, witness_key, 2**63)


def test_the_verifier_key_printed_is_of_type_0x04(witness_key: Ed25519PrivateKey) -> None:
    vkey = cosigner_key(NAME, public(witness_key)).encode()
    name, hash_hex, blob = vkey.split("+", 2)
    assert name == NAME
    assert base64.b64decode(blob) == b"\x04" + public(witness_key)
    assert bytes.fromhex(hash_hex) == hashlib.sha256(NAME.encode() + b"\n\x04" + public(witness_key)).digest()[:4]
