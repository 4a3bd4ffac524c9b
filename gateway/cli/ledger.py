"""`rollgate ledger verify | show | export | public-key | rotate-key | checkpoint`.

On a terminal, `show` is a table and a long `verify` or `export` shows its progress on stderr;
piped, every line is as it always was.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from gateway.cli.output import progress, table
from gateway.config import Config
from gateway.errors import LedgerBusyError, VerificationError
from gateway.ledger import checkpoint_copy, ledger_store
from gateway.ledger.anchor import read_copy
from gateway.ledger.export import export_lines, verify_export
from gateway.ledger.keys import known_public_keys, load_or_create, load_public, rotate
from gateway.ledger.timeline import Moment, moments
from gateway.ledger.verify import SignedHead, verify_extension, verify_ledger, verify_rows, with_journal
from gateway.store import LedgerRow, LedgerStore


def run(args: argparse.Namespace, config: Config) -> int:
    match args.ledger_command:
        case "verify":
            return verify(config, args.checkpoint, args.export, args.public_key, witness=args.witness)
        case "show":
            return show(config, args.workflow, args.agent, args.tool, args.since, args.until)
        case "export":
            return export(config, args.out)
        case "public-key":
            return public_key(config)
        case "checkpoint":
            return checkpoint(config)
        case _:
            return rotate_key(config)


def _store(config: Config) -> LedgerStore:
    return ledger_store(config, writer=False)


def verify(
    config: Config, checkpoint: Path | None, export: Path | None, public_key: Path | None, *, witness: bool = False
) -> int:
    witnessed: list[str] = []
    try:
        if export is not None:
            if public_key is None:
                print("rollgate: --export needs --public-key", file=sys.stderr)
                return 2
            with export.open() as handle:
                report = verify_export(handle, load_public(public_key.read_text()))
        else:
            store = _store(config)
            keys = known_public_keys(config.state_dir)
            rows = list(store.rows())
            heads: list[str | SignedHead] = [note for _, note, _ in store.checkpoints()]
            copy = checkpoint_copy(config)
            kept = read_copy(copy) if copy is not None else None
            if kept is not None:
                heads.append(SignedHead(kept, f"the checkpoint copy {copy}"))
            journal = store.journal()
            report = verify_ledger(rows, heads, keys, journal=journal, each=_checking)
            if checkpoint is not None:
                verify_extension(verify_rows(with_journal(rows, journal)), checkpoint.read_text(), keys)
            if witness:  # what the witnesses cosigned must be in the ledger (gateway/witness/audit.py)
                from gateway.cli.witness import verify_witnesses

                witnessed = verify_witnesses(config, verify_rows(with_journal(rows, journal)))
    except VerificationError as exc:
        where = f" (first bad entry: {exc.seq})" if exc.seq is not None else ""
        print(f"FAILED: {exc}{where}", file=sys.stderr)
        return 1
    extension = " and is an append-only extension of the given checkpoint" if checkpoint else ""
    compared = f", {report.journal_entries} compared with the journal" if report.journal_entries else ""
    print(
        f"OK: {report.entries} entries{compared}, {report.checkpoints} signed checkpoints, "
        f"root {report.root.hex()}{extension}"
    )
    for line in witnessed:
        print(line)
    return 0


def show(
    config: Config, workflow: str | None, agent: str | None, tool: str | None, since: str | None, until: str | None
) -> int:
    store = _store(config)
    found = moments(store.rows(workflow=workflow, principal=agent, tool=tool), since, until)
    table(["#", "time", "what happened"], found, lambda m: (str(m.seq), m.when, m.sentence), Moment.line)
    return 0


def export(config: Config, out: Path | None) -> int:
    store = _store(config)
    notes = store.checkpoints()
    if not notes:
        print(
            "rollgate: no signed checkpoint yet (start the gateway, or run 'rollgate ledger checkpoint')",
            file=sys.stderr,
        )
        return 1
    rows = list(store.rows())
    keys = known_public_keys(config.state_dir).values()
    lines = export_lines(rows, notes[-1][1], config.ledger.origin, keys)
    target = out.open("w") if out else sys.stdout
    try:
        for line in progress(lines, len(rows) + 1, "exporting"):
            target.write(line + "\n")
    finally:
        if out:
            target.close()
    return 0


def _checking(rows: list[LedgerRow]) -> Iterable[LedgerRow]:
    return progress(rows, len(rows), "verifying")


def public_key(config: Config) -> int:
    key, _ = load_or_create(config.state_dir)
    print(key.public_pem(), end="")
    print(f"# note verifier key: {key.verifier()}")
    return 0


def checkpoint(config: Config) -> int:
    """Sign the tree head of what is stored now. Needs no lock: a checkpoint is not in the chain,
    so this works beside a running gateway."""
    from gateway.ledger.ledger import sign_checkpoint

    key, _ = load_or_create(config.state_dir)
    store = _store(config)
    try:
        note = sign_checkpoint(store, key, config.ledger.origin, checkpoint_copy(config))
        last = store.checkpoints()
    finally:
        store.close()
    print(note or (last[-1][1] if last else "(empty ledger)"), end="")
    return 0


def rotate_key(config: Config) -> int:
    from gateway.ledger.events import KeyRotated
    from gateway.ledger.ledger import Ledger

    try:  # appends a key.rotated entry: refused while a gateway owns the ledger
        store = ledger_store(config, writer=True)
    except LedgerBusyError as exc:
        print(f"rollgate: cannot rotate the key now: {exc}", file=sys.stderr)
        return 2
    old, new = rotate(config.state_dir)
    ledger = Ledger(store, old, config.ledger.origin)
    ledger.checkpoint()  # the old key signs what it has seen
    ledger.key = new
    ledger.append_blocking(KeyRotated(key_id=new.key_id, previous_key_id=old.key_id, reason="rotated"))
    ledger.close()
    print(f"rotated: {old.key_id} retired (public key kept), {new.key_id} signs from now on")
    return 0
