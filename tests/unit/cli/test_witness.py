"""The witness's command-line options: logs as ORIGIN=VKEY or VKEY, and HOST:PORT."""

from __future__ import annotations

import pytest

from gateway.cli.witness import parse_listen, trusted_logs
from gateway.errors import ConfigError
from gateway.ledger.keys import KEY_NAME
from gateway.ledger.note import verifier_key
from gateway.witness.cosignature import cosigner_key
from tests.unit.witness.conftest import make_log


def vkey(name: str = KEY_NAME) -> str:
    return verifier_key(name, make_log().key.public_key().public_bytes_raw())


def test_a_log_is_an_origin_and_its_keys() -> None:
    first, second, own = vkey(), vkey(), vkey("example.com/log")
    trusted = trusted_logs([f"rollgate.local/a={first}", f"rollgate.local/a={second}"], [own])
    assert {origin: [k.encode() for k in keys] for origin, keys in trusted.items()} == {
        "rollgate.local/a": [first, second],
        "example.com/log": [own],  # --log-key: origin = the key's name
    }


@pytest.mark.parametrize(
    "logs, problem",
    [
        ([], "at least one log"),
        (["no-equals-sign"], "ORIGIN=VKEY"),
        (["o=not+a+key"], "--log o=not\\+a\\+key"),
        ([f"o={cosigner_key('w', bytes(32)).encode()}"], "Ed25519 \\(0x01\\)"),
    ],
)
def test_a_bad_log_option_is_a_config_error_naming_it(logs: list[str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        trusted_logs(logs, [])


def test_listen_is_host_and_port() -> None:
    assert parse_listen("127.0.0.1:7380") == ("127.0.0.1", 7380)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ("7380", "127.0.0.1:", "host:99999"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            parse_listen(bad)
