"""The ledger's Ed25519 signing keys: created on first start (0600), identified, rotatable.

<state>/keys/ledger.key          current private key (PEM, PKCS#8, mode 0600)
<state>/keys/retired/<id>.pub    public keys of rotated-out keys, so old checkpoints still verify
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.ledger.note import key_hash, verifier_key

KEY_NAME = "rollgate-ledger"


@dataclass(frozen=True, slots=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_hash(KEY_NAME, self.public.public_bytes_raw()).hex()

    def public_pem(self) -> str:
        return public_pem(self.public)

    def verifier(self) -> str:
        return verifier_key(KEY_NAME, self.public.public_bytes_raw())


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_path(state_dir: Path) -> Path:
    return state_dir / "keys" / "ledger.key"


def load_or_create(state_dir: Path) -> tuple[SigningKey, bool]:
    """The current key, creating it with 0600 permissions on first start; (key, created)."""
    path = key_path(state_dir)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return SigningKey(key), False
    return SigningKey(_write_new(path)), True


def rotate(state_dir: Path) -> tuple[SigningKey, SigningKey]:
    """Retire the current key (its public half is kept) and create a new one; (old, new)."""
    old, _ = load_or_create(state_dir)
    retired = state_dir / "keys" / "retired"
    retired.mkdir(parents=True, exist_ok=True)
    (retired / f"{old.key_id}.pub").write_text(old.public_pem())
    path = key_path(state_dir)
    path.unlink()
    return old, SigningKey(_write_new(path))


def known_public_keys(state_dir: Path) -> dict[str, Ed25519PublicKey]:
    """Every key that ever signed here, by key id (current and retired)."""
    keys = {current.key_id: current.public for current in [load_or_create(state_dir)[0]]}
    for pem in sorted((state_dir / "keys" / "retired").glob("*.pub")):
        public = load_public(pem.read_text())
        keys[key_hash(KEY_NAME, public.public_bytes_raw()).hex()] = public
    return keys


def _write_new(path: Path) -> Ed25519PrivateKey:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key
