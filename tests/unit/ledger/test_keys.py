"""The ledger's signing keys (`gateway/ledger/keys.py`): created once with 0600, named by their
C2SP signed-note key hash, rotated with the old public half kept."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.ledger.keys import KEY_NAME, key_path, known_public_keys, load_or_create, load_public, public_pem, rotate
from gateway.ledger.note import key_hash


def test_the_first_start_creates_a_private_key_file_in_a_private_folder(tmp_path: Path) -> None:
    key, created = load_or_create(tmp_path)
    assert created and key_path(tmp_path) == tmp_path / "keys" / "ledger.key"
    assert (tmp_path / "keys" / "ledger.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "keys" / "ledger.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_later_starts_load_the_same_key(tmp_path: Path) -> None:
    first, _ = load_or_create(tmp_path)
    again, created = load_or_create(tmp_path)
    assert not created and again.public.public_bytes_raw() == first.public.public_bytes_raw()


def test_a_key_is_named_by_its_signed_note_key_hash_and_verifier_string(tmp_path: Path) -> None:
    key, _ = load_or_create(tmp_path)
    raw = key.public.public_bytes_raw()
    assert KEY_NAME == "rollgate-ledger"
    assert key.key_id == key_hash(KEY_NAME, raw).hex() and len(key.key_id) == 8
    name, hash_hex, blob = key.verifier().split("+", 2)
    assert (name, hash_hex, base64.b64decode(blob)) == (KEY_NAME, key.key_id, b"\x01" + raw)


def test_the_public_pem_reads_back_as_the_same_key(tmp_path: Path) -> None:
    key, _ = load_or_create(tmp_path)
    assert key.public_pem() == public_pem(key.public)
    assert key.public_pem().startswith("-----BEGIN PUBLIC KEY-----")
    assert load_public(key.public_pem()).public_bytes_raw() == key.public.public_bytes_raw()


def test_a_public_key_of_another_algorithm_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        load_public(pem)


def test_a_key_file_of_another_algorithm_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = key_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match=f"{path} is not an Ed25519 private key"):
        load_or_create(tmp_path)


def test_rotation_retires_the_old_public_key_and_both_stay_known(tmp_path: Path) -> None:
    original, _ = load_or_create(tmp_path)
    old, new = rotate(tmp_path)
    assert old.key_id == original.key_id != new.key_id
    retired = tmp_path / "keys" / "retired" / f"{old.key_id}.pub"
    assert load_public(retired.read_text()).public_bytes_raw() == old.public.public_bytes_raw()
    assert load_or_create(tmp_path)[0].key_id == new.key_id
    assert key_path(tmp_path).stat().st_mode & 0o777 == 0o600
    _, newest = rotate(tmp_path)
    known = known_public_keys(tmp_path)
    assert sorted(known) == sorted([old.key_id, new.key_id, newest.key_id])
    assert known[old.key_id].public_bytes_raw() == old.public.public_bytes_raw()
