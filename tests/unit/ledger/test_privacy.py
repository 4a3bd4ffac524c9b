"""Masks at any depth, on results and their text, and sealed values that come back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import SealError
from gateway.ledger.privacy import Masker, shown

SECRETS = ["args.**.password", "args.**.api_key", "result.**.token"]


def masker(tmp_path: Path) -> Masker:
    return Masker.for_state_dir(tmp_path, 64 * 1024)


def test_a_secret_name_is_masked_at_any_depth_and_in_any_spelling(tmp_path: Path) -> None:
    redaction = masker(tmp_path).redaction(SECRETS)
    stored = redaction.arguments(
        {"password": "hunter22", "user": {"apiKey": "k-123456", "profile": [{"API-KEY": "k-999999"}]}, "n": 5}
    )
    text = json.dumps(stored)
    assert "hunter22" not in text and "k-123456" not in text and "k-999999" not in text
    assert stored["n"] == 5 and stored["password"]["masked"].startswith("hmac-sha256:")


def test_result_masks_reach_structured_content_json_text_and_the_same_value_in_plain_text(tmp_path: Path) -> None:
    redaction = masker(tmp_path).redaction(SECRETS)
    result = {
        "content": [
            {"type": "text", "text": json.dumps({"token": "tok-abcdef"})},
            {"type": "text", "text": "your token is tok-abcdef, keep it"},
        ],
        "structuredContent": {"session": {"token": "tok-abcdef"}},
        "isError": False,
    }
    stored = redaction.result(result)
    assert "tok-abcdef" not in json.dumps(stored)
    assert result["structuredContent"]["session"]["token"] == "tok-abcdef"  # the agent's copy is untouched


def test_an_argument_secret_echoed_in_a_result_is_scrubbed_there_too(tmp_path: Path) -> None:
    redaction = masker(tmp_path).redaction(SECRETS)
    redaction.arguments({"password": "hunter22"})
    stored = redaction.result({"content": [{"type": "text", "text": "logged in with hunter22"}]})
    assert stored["content"][0]["text"] == "logged in with [masked]"


def test_exact_paths_and_wildcards_mask_only_what_they_name(tmp_path: Path) -> None:
    redaction = masker(tmp_path).redaction(["args.card.number", "args.items.*.pin"])
    stored = redaction.arguments({"card": {"number": "4111", "brand": "visa"}, "items": [{"pin": "1234", "x": 1}]})
    assert stored["card"]["brand"] == "visa" and stored["items"][0]["x"] == 1
    assert "masked" in stored["card"]["number"] and "masked" in stored["items"][0]["pin"]


def test_sealed_values_open_only_with_their_state_directory(tmp_path: Path) -> None:
    sealed = masker(tmp_path / "a").seal({"password": "hunter22"})
    assert "hunter22" not in json.dumps(sealed)
    assert masker(tmp_path / "a").unseal(sealed) == {"password": "hunter22"}
    with pytest.raises(SealError):
        masker(tmp_path / "b").unseal(sealed)
    assert shown({"arguments": sealed}) == {"arguments": "[sealed]"}
    assert (tmp_path / "a" / "keys" / "seal.key").stat().st_mode & 0o777 == 0o600


_REDACTED = json.dumps({"a": {"b": [{"password": "[masked]"}]}, "note": "pw=[masked]"})
"""What is left once the secret is gone: a secret spelled inside it ("mask", "word") proves nothing."""


@given(st.text(min_size=4, max_size=20).filter(lambda s: s.strip() == s and s.isprintable() and s not in _REDACTED))
def test_any_planted_password_never_survives_redaction(tmp_path_factory: pytest.TempPathFactory, secret: str) -> None:
    redaction = Masker(b"s" * 32, 1 << 16).redaction(SECRETS)
    stored = redaction.arguments({"a": {"b": [{"password": secret}]}, "note": f"pw={secret}"})
    assert secret not in json.dumps(stored, ensure_ascii=False)
