"""The witness's identity: its name and Ed25519 key, created in its state directory on first run.

<state>/witness.key    private key (PEM, PKCS#8, mode 0600)
<state>/witness.name   the cosigner name its signature lines carry (part of its verifier key)

The name is fixed at creation: it is hashed into the key ID that every verifier is configured
with, so a later `--name` that differs is refused rather than silently changing the identity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import ConfigError
from gateway.store.state_dir import prepare_state_dir
from gateway.witness.cosignature import cosigner_key
from gateway.witness.signed_note import valid_name

DEFAULT_NAME = "rollgate.local/witness"


@dataclass(frozen=True, slots=True)
class WitnessKey:
    name: str
    private: Ed25519PrivateKey

    def verifier(self) -> str:
        """`name+hash+base64(0x04 || key)`: what a log puts in `[[ledger.witnesses]] verifier_key`."""
        return cosigner_key(self.name, self.private.public_key().public_bytes_raw()).encode()


def load_or_create(state_dir: Path, name: str | None = None) -> tuple[WitnessKey, bool]:
    """The witness's key, created (0600) with `name` on first run; (key, created)."""
    key_file, name_file = state_dir / "witness.key", state_dir / "witness.name"
    if key_file.exists():
        stored = name_file.read_text().strip()
        if name is not None and name != stored:
            raise ConfigError(f"--name {name}: the witness in {state_dir} is named {stored} (its key ID depends on it)")
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{key_file} is not an Ed25519 private key")
        return WitnessKey(stored, key), False
    name = name or DEFAULT_NAME
    if not valid_name(name):
        raise ConfigError(f"--name {name!r}: a key name has no spaces and no '+'")
    prepare_state_dir(state_dir)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    name_file.write_text(name + "\n")
    _write_private(key_file, pem)
    return WitnessKey(name, key), True


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
