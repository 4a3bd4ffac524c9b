"""Ledger checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint).

Pinned: the key hash and verifier key string against the spec's and Go sumdb/note's published
keys, the exact text of a checkpoint body, parse ∘ sign round-trips, and every malformed note
refused with `NoteError`.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from gateway.ledger.note import SIGNATURE_PREFIX, Checkpoint, NoteError, key_hash, parse, verifier_key, verify

# golang.org/x/mod/sumdb/note's example key pair and signed note (also used by C2SP signed-note).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()


def public_of(vkey: str) -> tuple[str, bytes]:
    name, _, blob = vkey.split("+", 2)
    raw = base64.b64decode(blob)
    assert raw[0] == 1  # Ed25519
    return name, raw[1:]


def peter_private() -> Ed25519PrivateKey:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]
    return Ed25519PrivateKey.from_private_bytes(seed)


@pytest.mark.parametrize("vkey", [PETER_VKEY, SPEC_VKEY])
def test_the_verifier_key_is_name_hash_and_base64_of_type_and_key(vkey: str) -> None:
    name, public = public_of(vkey)
    assert verifier_key(name, public) == vkey
    assert key_hash(name, public).hex() == vkey.split("+")[1]


def test_the_key_hash_matches_the_one_in_a_published_signature_line() -> None:
    name, public = public_of(PETER_VKEY)
    blob = base64.b64decode(PETER_SIG)
    assert blob[:4] == key_hash(name, public)
    Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], PETER_TEXT.encode())
    assert peter_private().public_key().public_bytes_raw() == public


def test_a_checkpoint_body_is_origin_size_root_and_time_lines() -> None:
    body = Checkpoint("rollgate.local/ledger", 1234, ROOT, 1795549321).body()
    assert body == f"rollgate.local/ledger\n1234\n{ROOT_B64}\ntime 1795549321\n"


def test_a_signed_checkpoint_is_the_body_a_blank_line_and_one_em_dash_signature_line() -> None:
    key = peter_private()
    checkpoint = Checkpoint("o", 7, ROOT, 1)
    note = checkpoint.sign("PeterNeumann", key)
    head, signature_line = note.split("\n\n")
    assert head + "\n" == checkpoint.body()
    assert SIGNATURE_PREFIX == "\u2014 " and signature_line.startswith("\u2014 PeterNeumann ")
    assert signature_line.endswith("\n") and signature_line.count("\n") == 1
    blob = base64.b64decode(signature_line.split(" ")[2])
    assert blob[:4].hex() == "c74f20a3" and len(blob) == 4 + 64
    key.public_key().verify(blob[4:], checkpoint.body().encode())


@given(
    origin=st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1, max_size=30),
    size=st.integers(0, 2**63),
    root=st.binary(min_size=32, max_size=32),
    time=st.integers(0, 2**40),
)
def test_parse_reads_back_what_sign_wrote(origin: str, size: int, root: bytes, time: int) -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    checkpoint = Checkpoint(origin, size, root, time)
    parsed, signatures = parse(checkpoint.sign("rollgate-ledger", key))
    public = key.public_key().public_bytes_raw()
    assert parsed == checkpoint
    assert [(name, hash_) for name, hash_, _ in signatures] == [
        ("rollgate-ledger", key_hash("rollgate-ledger", public))
    ]
    assert verify(checkpoint.sign("rollgate-ledger", key), "rollgate-ledger", key.public_key()) == checkpoint


def test_a_note_with_two_signatures_verifies_under_either_key() -> None:
    a, b = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32), Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
    checkpoint = Checkpoint("o", 3, ROOT, 9)
    second_line = checkpoint.sign("b", b).split("\n\n")[1]
    note = checkpoint.sign("a", a) + second_line
    assert [name for name, _, _ in parse(note)[1]] == ["a", "b"]
    assert verify(note, "a", a.public_key()) == verify(note, "b", b.public_key()) == checkpoint


def test_a_note_signed_by_another_key_or_name_is_not_verified() -> None:
    key, other = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32), Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
    note = Checkpoint("o", 3, ROOT, 9).sign("rollgate-ledger", key)
    with pytest.raises(NoteError, match=r"carries no signature of key rollgate-ledger\+"):
        verify(note, "rollgate-ledger", other.public_key())
    with pytest.raises(NoteError, match=r"carries no signature of key someone-else\+"):
        verify(note, "someone-else", key.public_key())


def test_an_edited_body_under_a_valid_signature_line_does_not_verify() -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    note = Checkpoint("o", 3, ROOT, 9).sign("k", key)
    with pytest.raises(NoteError, match="the signature of k does not verify"):
        verify(note.replace("\n3\n", "\n4\n", 1), "k", key.public_key())


SIGNED = f"\n\n{SIGNATURE_PREFIX}k {base64.b64encode(b'abcd' + bytes(64)).decode()}\n"


@pytest.mark.parametrize(
    ("note", "problem"),
    [
        (f"o\n3\n{ROOT_B64}\ntime 9\n", "needs a blank line"),
        ("o\n3" + SIGNED, "needs origin, size and root lines"),
        (f"o\nthree\n{ROOT_B64}\ntime 9" + SIGNED, "size, root or time is malformed"),
        (f"o\n3\n{ROOT_B64[:-2]}!!\ntime 9" + SIGNED, "size, root or time is malformed"),
        (f"o\n03\n{ROOT_B64}\ntime 9" + SIGNED, "not in canonical form"),
        (f"o\n+3\n{ROOT_B64}\ntime 9" + SIGNED, "not in canonical form"),
        (f"o\n3\n{ROOT_B64}" + SIGNED, "not in canonical form"),  # no time line
        (f"o\n3\n{ROOT_B64}\ntime 9\nextra" + SIGNED, "not in canonical form"),
        (f"o\n3\n{ROOT_B64}\ntime 9\n\n- k AAAA\n", "not a signature line"),
        (f"o\n3\n{ROOT_B64}\ntime 9\n\n", "not a signature line: ''"),
        pytest.param(
            f"o\n3\n{ROOT_B64}\ntime soon" + SIGNED,
            None,
        ),
        pytest.param(
            f"o\n3\n{ROOT_B64}\ntime 9\n\n{SIGNATURE_PREFIX}k abc\n",
            None,
        ),
        pytest.param(
            f"o\n-3\n{ROOT_B64}\ntime 9" + SIGNED,
            None,
        ),
        pytest.param(
            f"o\n3\n{base64.b64encode(b'short').decode()}\ntime 9" + SIGNED,
            None,
        ),
    ],
    ids=[
        "no-blank-line",
        "two-lines",
        "size-not-a-number",
        "root-not-base64",
        "size-leading-zero",
        "size-plus-sign",
        "no-time-line",
        "extra-line",
        "not-an-em-dash",
        "no-signature",
        "time-not-a-number",
        "signature-not-base64",
        "negative-size",
        "root-not-32-bytes",
    ],
)
def test_a_malformed_note_is_refused_with_note_error(note: str, problem: str | None) -> None:
    with pytest.raises(NoteError, match=problem):
        parse(note)
