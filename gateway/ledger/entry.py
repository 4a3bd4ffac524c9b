"""Ledger entries: what is recorded, and the exact bytes that are hashed and signed.

An entry's body is RFC 8785 canonical JSON of {seq, prev, time, kind, data}. Its hash (SHA-256 of
the body) chains it to the next entry through `prev`; its Merkle leaf hash (RFC 9162, 0x00 prefix)
makes it a leaf of the tree whose heads are signed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import rfc8785

from gateway.ledger.merkle import leaf_hash

GENESIS = "0" * 64


class EntryKind(StrEnum):
    """Every kind of entry the gateway writes; `events.EVENTS` holds exactly one model for each."""

    GATEWAY_START = "gateway.start"
    GATEWAY_STOP = "gateway.stop"
    CALL_INTENT = "call.intent"
    CALL_REFUSED = "call.refused"
    CALL_HELD = "call.held"
    CALL_RESULT = "call.result"
    CALL_OUTCOME_UNKNOWN = "call.outcome_unknown"
    CALL_SNAPSHOT = "call.snapshot"
    STEP_RECONCILED = "step.reconciled"
    POLICY_RELOAD = "policy.reload"
    MANIFESTS_RELOAD = "manifests.reload"
    UPSTREAM_REFUSED = "upstream.refused"
    KEY_ROTATED = "key.rotated"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_DENIED = "approval.denied"
    APPROVAL_EXPIRED = "approval.expired"
    APPROVAL_EXECUTED = "approval.executed"
    APPROVAL_FAILED = "approval.failed"
    APPROVAL_OUTCOME_UNKNOWN = "approval.outcome_unknown"
    APPROVAL_TAMPERED = "approval.tampered"
    APPROVAL_REMEDIATED = "approval.remediated"
    COMPENSATION = "compensation"
    QUARANTINE = "quarantine"
    QUARANTINE_RELEASED = "quarantine.released"
    CHECKPOINT = "workflow.checkpoint"
    ROLLBACK_STARTED = "rollback.started"
    ROLLBACK_FINISHED = "rollback.finished"
    CALLS_STOPPED = "calls.stopped"
    CALLS_RESUMED = "calls.resumed"
    TOOL_DEFINITION_CHANGED = "tool.definition_changed"
    TOOL_DEFINITION_ACCEPTED = "tool.definition_accepted"
    OPERATOR_REFUSED = "operator.refused"


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One row of the ledger as stored: the body bytes and the hashes derived from them."""

    seq: int
    body: bytes
    entry_hash: str
    leaf: bytes
    sealed: dict[str, Any] | None = None
    """The document the body was made from, when this process made it (saves parsing it back)."""

    @property
    def document(self) -> dict[str, Any]:
        return self.sealed if self.sealed is not None else json.loads(self.body)

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.document["data"])


_SAFE_INTEGER = 2**53 - 1


def jsonable(value: Any) -> Any:
    """What RFC 8785 can canonicalise: integers beyond ±(2^53-1), which JSON numbers (IEEE doubles)
    cannot hold exactly, are recorded as {"$integer": "<decimal>"} instead of being rounded."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if -_SAFE_INTEGER <= value <= _SAFE_INTEGER else {"$integer": str(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


_encode = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


def _same_in_both(value: Any) -> bool:
    """Whether the C json encoder writes `value` exactly as RFC 8785 does.

    True for strings, booleans, null, integers within ±(2^53-1), lists, and objects whose keys
    have no character beyond U+FFFF (Python sorts keys by code point, RFC 8785 by UTF-16 code
    unit: the orders differ only there). Both escape the same characters the same way. Floats
    agree (the same shortest digits) only where both write plain decimals and Python adds no
    ".0": non-integral magnitudes from 1e-4 up to 1e16.
    """
    if isinstance(value, str | bool) or value is None:  # str: also StrEnum members, as both write them
        return True
    if isinstance(value, int):
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if isinstance(value, float):
        return 1e-4 <= abs(value) < 1e16 and not value.is_integer()
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and (key.isascii() or max(key) <= "\uffff") and _same_in_both(item)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return all(_same_in_both(item) for item in value)
    return False


def canonical_json(document: Any) -> bytes:
    """RFC 8785 bytes of `document`: the library's, or the C encoder's where they are provably the
    same (ten times faster; `test_entry` checks the two agree)."""
    if _same_in_both(document):
        try:
            return _encode(document).encode()
        except UnicodeEncodeError:  # a lone surrogate: the library says what is wrong with it
            pass
    return rfc8785.dumps(document)


def seal(seq: int, prev: str, time: str, kind: str, data: dict[str, Any]) -> StoredEntry:
    document: dict[str, Any] = {"seq": seq, "prev": prev, "time": time, "kind": kind, "data": data}
    try:
        body = canonical_json(document)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        document = jsonable(document)
        body = canonical_json(document)
    return StoredEntry(seq, body, hashlib.sha256(body).hexdigest(), leaf_hash(body), document)


def index_columns(entry: StoredEntry) -> dict[str, str | None]:
    """The filterable columns stored beside the body, derived from it (verify re-derives them)."""
    document = entry.document
    data = document["data"]
    return {
        "kind": document["kind"],
        "workflow": data.get("workflow"),
        "principal": data.get("principal"),
        "tool": data.get("tool"),
        "correlation": data.get("correlation_id"),
        "time": document["time"],
    }
