"""The recent refusals of the status report, read from ledger rows."""

from __future__ import annotations

import json

from gateway.observability.status import recent_refusals
from gateway.store.base import LedgerRow


def _row(seq: int, data: dict[str, object]) -> LedgerRow:
    body = json.dumps({"kind": "call.refused", "data": data}).encode()
    time = f"2026-12-04T00:00:{seq:02d}Z"
    return LedgerRow(seq, body, "h", b"", "call.refused", "wf", "agent-one", "probe/echo", "c", time)


def test_newest_first_with_the_decisions_reasons_or_the_error() -> None:
    rows = [
        _row(3, {"decision": {"reasons": ["workflow wf is quarantined"]}}),
        _row(9, {"error": "unknown tool 'x'"}),
        _row(5, {"error": {"digest": "sha256:ab"}}),
    ]
    found = recent_refusals(rows, limit=2)
    assert [r.seq for r in found] == [9, 5]
    assert found[0].reasons == ["unknown tool 'x'"]
    assert found[1].reasons == ['{"digest": "sha256:ab"}']
    assert recent_refusals(rows)[-1].reasons == ["workflow wf is quarantined"]
