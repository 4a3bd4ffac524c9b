"""The call pipeline: stages composed in one ordered list, read top to bottom.

    meta-tools → as task → record outcome → confine → resolve → validate → breaker → lease signal
    → decide → snapshot → approve → lease → record intent → track → breaker watch → forward

The gateway's own `rollgate_*` tools are answered by the head stage (`metatools.py`) and go no
further; every other call runs the rest.

Every call is confined to its principal's own workflows first (`confine.py`). An approved call
runs later through the same pipeline with its approval (`call.approval`): policy decides again
with the approval in its input, and the stages that do not apply step aside (the approval stage
sees no `require_approval`, the task stage no task request, the meta-tools stage no meta-tool).
The gateway's own calls (compensations, verification reads) carry the compensation marker in
their context and enter it the same way.
A stage that a configuration turns off is simply absent from the list (the ledger stages when
`ledger.enabled = false`, the approval and task stages when `approvals.enabled = false`, the
breaker stages when `guards.breakers.enabled = false`, the lease stages when
`guards.leases.enabled = false`).
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import LeasesConfig
from gateway.guards.breakers import Breakers
from gateway.guards.leases import Leases
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
from gateway.pipeline.lease import Lease, LeaseSignal
from gateway.pipeline.plan import Planner
from gateway.pipeline.record import OpenCalls, RecordIntent, RecordOutcome
from gateway.pipeline.resolve import Resolve, Unlisted
from gateway.pipeline.snapshot import Snapshot
from gateway.pipeline.track import React, Track
from gateway.pipeline.validate import Validate
from gateway.policy import PolicyService
from gateway.saga.store import SagaStore
from gateway.upstream.catalog import Catalog
from gateway.workflows import WorkflowBook

__all__ = ["Call", "InputRound", "LinkSource", "Pipeline", "Planner", "Result", "Stage", "Stages", "TaskSupport"]


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
        breakers: tuple[Breakers, Breakers] | None = None,
        leases: tuple[Leases, LeasesConfig] | None = None,
    ) -> None:
        """`breakers`: the upstreams' and the agents' tools' circuit breakers; `leases`: the
        resource lease table and its defaults (each absent: its stages are)."""
        masker = masker or (ledger[1] if ledger else None)
        self.confine = Confine(saga, shared_roles) if saga is not None else None
        self.resolve = Resolve(catalog, manifests, unlisted)
        self.validate = Validate()
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
            meta_tools,
            self.as_task,
            self.record_outcome,
            self.confine,
            self.resolve,
            self.validate,
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
        return Pipeline([stage for stage in stages if stage is not None])

    def planner(self) -> Planner:
        return Planner(self.resolve, self.validate, self.decide)
