"""`rollgate witness serve | key`, and the witness check behind `rollgate ledger verify --witness`.

A witness is configured with the logs it accepts, each an origin and a log public key (its note
verifier key, `name+hash+base64(0x01 || key)`, as `rollgate ledger public-key` prints it):

    --log ORIGIN=VKEY    the log whose checkpoints start with the line ORIGIN (repeat ORIGIN for
                         several keys, e.g. across a key rotation)
    --log-key VKEY       the same, with the origin taken to be the key's name (tlog-checkpoint:
                         a log's key name SHOULD match its origin; Rollgate's does not, its key is
                         named `rollgate-ledger`, so give Rollgate ledgers with --log)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gateway.config import Config
from gateway.errors import ConfigError, NoteFormatError
from gateway.witness.keys import load_or_create
from gateway.witness.signed_note import ED25519, VerifierKey, parse_verifier_key

STATE_FILE = "witness.db"


def run(args: argparse.Namespace) -> int:
    if args.witness_command == "serve":
        return serve(args.state_dir, args.listen, args.log, args.log_key, args.name)
    return key(args.state_dir, args.name)


def serve(state_dir: Path, listen: str, logs: Sequence[str], log_keys: Sequence[str], name: str | None) -> int:
    from gateway.witness.cosigner import Cosigner
    from gateway.witness.server import serve as serve_http
    from gateway.witness.state import open_state

    host, port = parse_listen(listen)
    trusted = trusted_logs(logs, log_keys)
    key, created = load_or_create(state_dir, name)
    state = open_state(state_dir / STATE_FILE)
    try:
        print(f"witness {key.name}: {'created' if created else 'loaded'} its key in {state_dir}")
        print(f"witness verifier key: {key.verifier()}")
        for origin, keys in sorted(trusted.items()):
            print(f"accepting checkpoints of {origin} signed by {', '.join(k.encode() for k in keys)}")
        print(f"listening on http://{listen}/add-checkpoint", flush=True)
        serve_http(Cosigner(key, trusted, state), host, port)
    finally:
        state.close()
    return 0


def key(state_dir: Path, name: str | None) -> int:
    witness, _ = load_or_create(state_dir, name)
    print(witness.verifier())
    return 0


def verify_witnesses(config: Config, leaves: Sequence[bytes]) -> list[str]:
    """One line per configured witness whose latest cosigned checkpoint the local ledger contains;
    VerificationError (from `gateway.ledger.verify`) for the first that it does not."""
    from gateway.ledger.keys import known_public_keys
    from gateway.witness.audit import check_witnesses

    keys = known_public_keys(config.state_dir)
    heads = check_witnesses(leaves, config.ledger.origin, config.ledger.witnesses, keys)
    return [f"witnessed: {head.describe()}; the local ledger contains it" for head in heads]


def trusted_logs(logs: Sequence[str], log_keys: Sequence[str]) -> dict[str, tuple[VerifierKey, ...]]:
    """The origins a witness accepts and their keys, from `--log ORIGIN=VKEY` and `--log-key VKEY`."""
    pairs: list[tuple[str, str, str]] = []
    for option in logs:
        origin, equals, vkey = option.partition("=")
        if not (equals and origin and vkey):
            raise ConfigError(f"--log {option!r}: give ORIGIN=VKEY")
        pairs.append((f"--log {option}", origin, vkey))
    pairs += [(f"--log-key {vkey}", "", vkey) for vkey in log_keys]
    if not pairs:
        raise ConfigError("a witness needs at least one log: --log ORIGIN=VKEY or --log-key VKEY")
    trusted: dict[str, tuple[VerifierKey, ...]] = {}
    for where, origin, vkey in pairs:
        try:
            key = parse_verifier_key(vkey)
        except NoteFormatError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if key.algorithm != ED25519:
            raise ConfigError(f"{where}: a log signs its checkpoints with an Ed25519 (0x01) key")
        trusted[origin or key.name] = (*trusted.get(origin or key.name, ()), key)
    return trusted


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:PORT` for IPv6)."""
    host, colon, port = listen.rpartition(":")
    if not (colon and host and port.isdecimal() and int(port) <= 65535):
        raise ConfigError(f"--listen {listen!r}: give HOST:PORT, e.g. 127.0.0.1:7380")
    return host.strip("[]"), int(port)
