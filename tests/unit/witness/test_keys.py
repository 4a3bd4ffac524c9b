"""The witness's key and name: created once, private, and fixed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.witness.keys import load_or_create
from gateway.witness.signed_note import COSIGNATURE_V1, parse_verifier_key


def test_the_key_is_created_private_on_first_run_and_loaded_after(tmp_path: Path) -> None:
    created, was_created = load_or_create(tmp_path / "w", "witness.test/w1")
    loaded, again = load_or_create(tmp_path / "w")
    assert (was_created, again) == (True, False)
    assert loaded.verifier() == created.verifier()
    assert stat.S_IMODE((tmp_path / "w" / "witness.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "w").stat().st_mode) == 0o700
    key = parse_verifier_key(created.verifier())
    assert (key.name, key.algorithm) == ("witness.test/w1", COSIGNATURE_V1)


def test_another_name_for_an_existing_witness_is_refused(tmp_path: Path) -> None:
    load_or_create(tmp_path, "witness.test/w1")
    with pytest.raises(ConfigError, match="is named witness.test/w1"):
        load_or_create(tmp_path, "witness.test/w2")


def test_a_name_with_a_plus_sign_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no spaces"):
        load_or_create(tmp_path, "a+b")
