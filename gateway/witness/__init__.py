"""Witnesses (c2sp.org/tlog-witness): other parties that cosign the ledger's checkpoints.

Both sides live here. The log's: `push` submits each newly signed checkpoint to the configured
witnesses (`[[ledger.witnesses]]`) and returns their verified cosignatures, and `check_witnesses`
(behind `rollgate ledger verify --witness`) proves the local ledger contains what each witness
cosigned. The witness's: `Cosigner` decides on a submission, `WitnessState` remembers the latest
cosigned checkpoint per log, `witness_app` serves them over HTTP (`rollgate witness serve`).

    signed_note.py   any log's signed notes, checkpoints and verifier keys (pure)
    cosignature.py   cosignature/v1: sign and verify (pure)
    protocol.py      add-checkpoint request and response bodies (pure)
    cosigner.py      the witness's checks, in the spec's order, then compare-and-set
    state.py         the witness's SQLite record
    keys.py          the witness's name and key
    server.py        HTTP (starlette): add-checkpoint, and the GET extension
    client.py        the log's push
    audit.py         verify --witness

Names are imported on first use: this package's own import loads neither httpx nor starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazy import lazy_names

if TYPE_CHECKING:
    from gateway.witness.audit import WitnessedHead, check_witnessed, check_witnesses
    from gateway.witness.client import Cosigned, PushFailed, PushResult, push, push_blocking, with_cosignatures
    from gateway.witness.cosignature import Cosignature, cosign, verify_cosignature
    from gateway.witness.cosigner import Cosigner
    from gateway.witness.server import witness_app
    from gateway.witness.state import Witnessed, WitnessState

__all__ = [
    "Cosignature",
    "Cosigned",
    "Cosigner",
    "PushFailed",
    "PushResult",
    "WitnessState",
    "Witnessed",
    "WitnessedHead",
    "check_witnessed",
    "check_witnesses",
    "cosign",
    "push",
    "push_blocking",
    "verify_cosignature",
    "with_cosignatures",
    "witness_app",
]

_HOMES = {
    "WitnessedHead": "audit",
    "check_witnessed": "audit",
    "check_witnesses": "audit",
    "Cosigned": "client",
    "PushFailed": "client",
    "PushResult": "client",
    "push": "client",
    "push_blocking": "client",
    "with_cosignatures": "client",
    "Cosignature": "cosignature",
    "cosign": "cosignature",
    "verify_cosignature": "cosignature",
    "Cosigner": "cosigner",
    "witness_app": "server",
    "Witnessed": "state",
    "WitnessState": "state",
}


__getattr__ = lazy_names(__name__, _HOMES)
