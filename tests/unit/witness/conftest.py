"""A log (key, origin, leaves, signed checkpoints) and a witness over a real state file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.config import WitnessConfig
from gateway.ledger.keys import KEY_NAME
from gateway.ledger.merkle import leaf_hash, root
from gateway.ledger.note import Checkpoint, verifier_key
from gateway.witness.cosigner import Cosigner
from gateway.witness.keys import load_or_create
from gateway.witness.signed_note import VerifierKey, parse_verifier_key
from gateway.witness.state import WitnessState

ORIGIN = "test.example/log"


@dataclass
class Log:
    key: Ed25519PrivateKey
    origin: str
    leaves: list[bytes]

    @property
    def vkey(self) -> VerifierKey:
        return parse_verifier_key(verifier_key(KEY_NAME, self.key.public_key().public_bytes_raw()))

    def note(self, size: int, *, leaves: list[bytes] | None = None, time: int = 1_700_000_000) -> str:
        """The log's signed checkpoint over the first `size` leaves (of `leaves`, if given)."""
        tree = (leaves if leaves is not None else self.leaves)[:size]
        return Checkpoint(self.origin, size, root(tree), time + size).sign(KEY_NAME, self.key)

    def rewritten(self, at: int) -> list[bytes]:
        """The leaves with entry `at` (1-based) replaced: what a forger holding the key would sign."""
        leaves = list(self.leaves)
        leaves[at - 1] = leaf_hash(b"forged entry %d" % at)
        return leaves


def make_log(origin: str = ORIGIN, entries: int = 40) -> Log:
    return Log(Ed25519PrivateKey.generate(), origin, [leaf_hash(b"entry %d" % n) for n in range(1, entries + 1)])


@pytest.fixture
def log() -> Log:
    return make_log()


@pytest.fixture
def cosigner(tmp_path: Path, log: Log) -> Iterator[Cosigner]:
    key, _ = load_or_create(tmp_path / "witness")
    state = WitnessState(tmp_path / "witness" / "witness.db")
    yield Cosigner(key, {log.origin: (log.vkey,)}, state, clock=lambda: 1_800_000_000)
    state.close()


@pytest.fixture
def witness(cosigner: Cosigner) -> WitnessConfig:
    return WitnessConfig(url="http://witness.test", verifier_key=cosigner.key.verifier())
