"""The call pipeline: stages composed in one ordered list, read top to bottom.

    (observe →) meta-tools → as task → record outcome → stop → confine → resolve → validate → guard
    → breaker → lease signal → decide → snapshot → approve → lease → record intent → track
    → breaker watch → forward

The gateway's own `rollgate_*` tools are answered by the head stage (`metatools.py`) and go no
further; every other call runs the rest.

While an operator has stopped everyone or the caller (the kill switch, `stop.py`), a new call is
refused before anything else. Every call is confined to its principal's own workflows first
(`confine.py`). The guard stages (`guard.py`: loops, budgets, rates; `breaker.py`; `lease.py`)
measure the call into `input.signals` before policy decides; the lease is taken after approval,
and `BreakerWatch` counts only what reached the upstream. An approved call runs later through
the same pipeline with its approval (`call.approval`): policy decides again with the approval in
its input, and the stages that do not apply step aside (the approval stage
sees no `require_approval`, the task stage no task request, the meta-tools stage no meta-tool).
The gateway's own calls (compensations, verification reads) carry the compensation marker in
their context and enter it the same way.
The observing stage (`observe.py`: the call's span, metrics and log line) heads the list when
`observability.enabled`, and the pipeline then times (and traces) every other stage.
A stage that a configuration turns off is simply absent from the list (the ledger stages when
`ledger.enabled = false`, the approval and task stages when `approvals.enabled = false`, the
guard stage when every `guards.*` is off, the breaker stages when `guards.breakers.enabled = false`,
the lease stages when `guards.leases.enabled = false`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.config import LeasesConfig
from gateway.guards.breakers import Breakers
from gateway.guards.leases import Leases
from gateway.guards.stop import StopSwitch
from gateway.ledger.ledger import Ledger
from gateway.ledger.privacy import Masker
from gateway.manifests import ManifestRegistry
from gateway.pipeline.approve import Approve
from gateway.pipeline.as_task import AnswerAsTask
from gateway.pipeline.breaker import Breaker
from gateway.pipeline.call import Call, InputRound, LinkSource, Result, Stage, TaskSupport
from gateway.pipeline.chain import Pipeline
from gateway.pipeline.confine import Confine
from gateway.pipeline.decide import Decide
from gateway.pipeline.forward import Forward
from gateway.pipeline.guard import Guard
from gateway.pipeline.lease import Lease, LeaseSignal
from gateway.pipeline.plan import Planner
from gateway.pipeline.record import OpenCalls, RecordIntent, RecordOutcome
from gateway.pipeline.resolve import Resolve, Unlisted
from gateway.pipeline.snapshot import Snapshot
from gateway.pipeline.stop import Stop
from gateway.pipeline.track import React, Track
from gateway.pipeline.validate import Validate
from gateway.policy import PolicyService
from gateway.saga.store import SagaStore
from gateway.upstream.catalog import Catalog
from gateway.workflows import WorkflowBook

if TYPE_CHECKING:
    from gateway.observability import Observability

__all__ = [
    "Call",
    "Guard",
    "InputRound",
    "LinkSource",
    "Pipeline",
    "Planner",
    "Result",
    "Stage",
    "Stages",
    "TaskSupport",
]


class Stages:
    """The stage objects, built once and shared by the call pipeline and the planner."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        manifests: Callable[[], ManifestRegistry],
        policy: Callable[[], PolicyService],
        workflows: WorkflowBook,
        ledger: tuple[Ledger, Masker] | None = None,
        approve: Approve | None = None,
        saga: SagaStore | None = None,
        react: React | None = None,
        *,
        reads_ahead: bool = False,
        shared_roles: frozenset[str] = frozenset(),
        masker: Masker | None = None,
        unlisted: Unlisted | None = None,
        observability: Observability | None = None,
        guard: Guard | None = None,
        stop: StopSwitch | None = None,
        breakers: tuple[Breakers, Breakers] | None = None,
        leases: tuple[Leases, LeasesConfig] | None = None,
    ) -> None:
        """`breakers`: the upstreams' and the agents' tools' circuit breakers; `leases`: the
        resource lease table and its defaults (each absent: its stages are)."""
        masker = masker or (ledger[1] if ledger else None)
        self.stop = Stop(stop) if stop is not None else None
        self.observability = observability
        self.observe: Stage | None = None
        if observability is not None:
            from gateway.pipeline.observe import Observe  # (OpenTelemetry, prometheus: loaded only when on)

            self.observe = Observe(observability, masker)
        self.confine = Confine(saga, shared_roles) if saga is not None else None
        self.resolve = Resolve(catalog, manifests, unlisted)
        self.validate = Validate()
        self.guard = guard
        self.decide = Decide(policy, workflows)
        self.forward = Forward()
        open_calls = OpenCalls()
        self.record_outcome = RecordOutcome(*ledger, open_calls) if ledger else None
        self.record_intent = RecordIntent(*ledger, open_calls, reads_ahead=reads_ahead) if ledger else None
        self.approve = approve
        self.as_task = AnswerAsTask(approve.store) if approve is not None else None
        self.snapshot = Snapshot(*ledger) if ledger else Snapshot()
        self.track = Track(saga, catalog, react, masker) if saga is not None else None
        self.breaker = Breaker(*breakers) if breakers is not None else None
        self.lease_signal = LeaseSignal(*leases) if leases is not None else None
        self.lease = Lease(leases[0], self.snapshot.take) if leases is not None else None

    def pipeline(self, meta_tools: Stage | None = None) -> Pipeline:
        """Every downstream `tools/call`; `meta_tools` (`metatools.MetaTools`) heads it."""
        stages: list[Stage | None] = [
            self.observe,
            meta_tools,
            self.as_task,
            self.record_outcome,
            self.stop,
            self.confine,
            self.resolve,
            self.validate,
            self.guard,
            self.breaker,
            self.lease_signal,
            self.decide,
            self.snapshot,
            self.approve,
            self.lease,
            self.record_intent,
            self.track,
            self.breaker.watch if self.breaker is not None else None,
            self.forward,
        ]
        return Pipeline([stage for stage in stages if stage is not None], self.observability)

    def planner(self) -> Planner:
        return Planner(self.resolve, self.validate, self.decide)
