"""A hash-chained run of ledger rows and signed checkpoints over them, built without a `Ledger`;
and numbered call events, for tests that append through one."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.ledger.entry import GENESIS, seal
from gateway.ledger.events import CallIntent, CallResult
from gateway.ledger.keys import KEY_NAME
from gateway.ledger.merkle import LEAF_PREFIX, root
from gateway.ledger.note import Checkpoint
from gateway.store.base import LedgerRow

TIME = "2026-12-01T12:00:00+00:00"
SIGNED_AT = 1795608000  # 2026-11-25T12:00:00Z


def chain(count: int, first: int = 1, prev: str = GENESIS) -> list[LedgerRow]:
    rows = []
    for seq in range(first, first + count):
        data = {"correlation_id": f"c{seq}", "principal": "agent", "workflow": "wf", "tool": "demo/t", "n": seq}
        entry = seal(seq, prev, TIME, "call.intent", data)
        columns = ("call.intent", "wf", "agent", "demo/t", f"c{seq}", TIME)  # what verify derives from the body
        rows.append(LedgerRow(entry.seq, entry.body, entry.entry_hash, entry.leaf, *columns))
        prev = entry.entry_hash
    return rows


def intent(
    n: int, *, workflow: str = "wf", tool: str = "demo/t", arguments: dict[str, Any] | None = None
) -> CallIntent:
    """The `call.intent` of call `c{n}`; its arguments are `{"n": n}` unless given."""
    return CallIntent(
        correlation_id=f"c{n}",
        principal="agent",
        workflow=workflow,
        step=None,
        tool=tool,
        requested_name=tool,
        roles=[],
        arguments={"n": n} if arguments is None else arguments,
        manifest=None,
        decision=None,
        compensation=False,
    )


def result(n: int) -> CallResult:
    """The `call.result` of call `c{n}`, whose intent is entry `n`."""
    return CallResult(
        correlation_id=f"c{n}",
        principal="agent",
        workflow="wf",
        step=None,
        tool="demo/t",
        requested_name="demo/t",
        intent_seq=n,
        duration_ms=1.0,
        status="ok",
        result={"n": n},
    )


def signed(rows: list[LedgerRow], key: Ed25519PrivateKey, size: int | None = None, origin: str = "t") -> str:
    size = len(rows) if size is None else size
    return Checkpoint(origin, size, root([r.leaf for r in rows[:size]]), SIGNED_AT).sign(KEY_NAME, key)


def with_body(row: LedgerRow, body: bytes) -> LedgerRow:
    """`row` carrying `body`, its hash and leaf recomputed (an edit by someone who knows the format)."""
    return LedgerRow(
        row.seq,
        body,
        hashlib.sha256(body).hexdigest(),
        hashlib.sha256(LEAF_PREFIX + body).digest(),
        row.kind,
        row.workflow,
        row.principal,
        row.tool,
        row.correlation,
        row.time,
    )
