"""Start-up recovery: intents that never got an outcome (a crash in between) are marked.

Nothing is silently dropped: each such call gets a `call.outcome_unknown` entry naming its intent,
and operators are told (log warning, `rollgate ledger show`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gateway.ledger.entry import EntryKind
from gateway.ledger.events import CallOutcomeUnknown
from gateway.ledger.ledger import Ledger

logger = logging.getLogger(__name__)


def mark_unknown_outcomes(ledger: Ledger) -> list[int]:
    """Append an outcome_unknown entry for every intent without an outcome; returns their intent seqs."""
    open_intents: dict[str, tuple[int, dict[str, Any]]] = {}
    for row in ledger.store.rows():
        if row.kind == EntryKind.CALL_INTENT and row.correlation:
            data = json.loads(row.body)["data"]
            open_intents[row.correlation] = (row.seq, data)
        elif row.kind in (EntryKind.CALL_RESULT, EntryKind.CALL_OUTCOME_UNKNOWN) and row.correlation:
            open_intents.pop(row.correlation, None)
    marked = []
    for correlation, (seq, data) in open_intents.items():
        ledger.append_blocking(
            CallOutcomeUnknown(
                correlation_id=correlation,
                intent_seq=seq,
                principal=data.get("principal"),
                workflow=data.get("workflow"),
                tool=data.get("tool"),
                reason="the gateway stopped after recording the intent and before recording an outcome",
            )
        )
        logger.warning(
            "call %s (ledger entry %d, tool %s) has an unknown outcome: check the upstream",
            correlation,
            seq,
            data.get("tool"),
        )
        marked.append(seq)
    return marked
