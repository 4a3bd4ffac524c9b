"""What `rollgate status` and `GET /api/status` show an operator: one report of the running gateway.

The report is assembled by the composition root (`Gateway.status`) from the parts that own each
figure: the upstream pool, the approval queue, the saga store, the ledger and the guards. Nothing
in it is an argument or a result of a call: refusals show their reasons, which the ledger holds
masked already.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel

from gateway.store.base import LedgerRow

RECENT_SCAN = 5000
"""How many of the newest ledger entries are read for the recent refusals."""


class UpstreamStatus(BaseModel):
    name: str
    transport: str
    state: Literal["serving", "connecting", "failing", "refused"]
    tools: int
    error: str | None = None


class QueueStatus(BaseModel):
    enabled: bool
    pending: int = 0
    oldest_pending_since: str | None = None
    """When the longest-waiting pending call was held (ISO 8601)."""


class Quarantined(BaseModel):
    kind: Literal["workflow", "agent"]
    id: str
    reason: str | None = None
    owner: str | None = None


class Refusal(BaseModel):
    seq: int
    time: str
    principal: str | None
    workflow: str | None
    tool: str | None
    reasons: list[str]


class LedgerStatus(BaseModel):
    enabled: bool
    entries: int = 0
    checkpoints: int = 0
    last_checkpoint_size: int | None = None


class StatusReport(BaseModel):
    version: str
    started_at: str
    uptime_seconds: float
    upstreams: list[UpstreamStatus]
    approvals: QueueStatus
    quarantined: list[Quarantined]
    recent_refusals: list[Refusal]
    ledger: LedgerStatus
    guards: dict[str, Any] = {}
    """Each guard's own state (`state()`), by guard name: breakers, loops, budgets, the kill switch."""


def recent_refusals(rows: Iterable[LedgerRow], limit: int = 20) -> list[Refusal]:
    """The newest `limit` refusals among `rows` (ledger rows of kind `call.refused`), newest first."""
    found: list[Refusal] = []
    for row in rows:
        data = json.loads(row.body).get("data", {})
        decision = data.get("decision") or {}
        reasons = list(decision.get("reasons") or [])
        if not reasons and data.get("error") is not None:
            error = data["error"]
            reasons = [error if isinstance(error, str) else json.dumps(error)]
        found.append(
            Refusal(
                seq=row.seq,
                time=row.time,
                principal=row.principal,
                workflow=row.workflow,
                tool=row.tool,
                reasons=reasons,
            )
        )
    found.sort(key=lambda r: r.seq, reverse=True)
    return found[:limit]
