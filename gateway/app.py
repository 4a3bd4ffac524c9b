"""The running gateway: configuration, upstream pool, pipeline, and the live downstream sessions."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from weakref import WeakSet

import anyio
from anyio.abc import TaskGroup
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    ToolsListChanged,
)

from gateway import __version__
from gateway.approvals.notify import Notifier
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.store import ApprovalStore
from gateway.approvals.ticket import Ticket, call_digest
from gateway.clock import SYSTEM, Clock
from gateway.config import Config, LimitsConfig
from gateway.errors import ApprovalRefused, LedgerClosed, SealError, Tampered
from gateway.guards.breakers import Breakers
from gateway.guards.leases import Leases
from gateway.guards.pins import Pins
from gateway.guards.stop import StopSwitch
from gateway.ledger import EntryKind, Ledger, Masker, mark_unknown_outcomes, open_ledger
from gateway.ledger.events import (
    CallRefused,
    GatewayStart,
    GatewayStop,
    KeyRotated,
    LedgerEvent,
    ManifestsReload,
    PolicyReload,
    RollbackFinished,
    ToolDefinitionAccepted,
    UpstreamRefused,
)
from gateway.manifests import ManifestRegistry, ManifestWatch
from gateway.models import CallContext, Principal
from gateway.observability.status import (
    RECENT_SCAN,
    LedgerStatus,
    Quarantined,
    QueueStatus,
    StatusReport,
    UpstreamStatus,
    recent_refusals,
)
from gateway.pipeline import Call, Pipeline, Planner, Result, Stages
from gateway.pipeline.approve import Approve
from gateway.pipeline.call import Grant
from gateway.pipeline.guard import Guard, usage_guard
from gateway.pipeline.metatools import MetaTools
from gateway.policy import Effect, OpaEngine, PolicyEngine, PolicyService, RegorusEngine
from gateway.saga.current import CurrentWorkflows
from gateway.saga.service import Workflows, compensation_context
from gateway.saga.store import SagaStore
from gateway.store.guard_state import open_guard_state
from gateway.store.state_dir import prepare_state_dir
from gateway.upstream.pool import UpstreamPool
from gateway.upstream.relay import DownstreamRelay
from gateway.witness.pushing import Witnesses
from gateway.workflows import PrincipalFacts, WorkflowBook

if TYPE_CHECKING:
    from gateway.observability import Observability
    from gateway.observability.metrics import BreakerState

logger = logging.getLogger(__name__)

VERSION = __version__


class Gateway:
    """Everything a request handler needs, built once per process."""

    version = VERSION

    def __init__(self, config: Config, observability: Observability | None = None, clock: Clock = SYSTEM) -> None:
        """`observability`: made from `[observability]` unless given (a test's span exporter)."""
        self.config = config
        self.clock = clock
        self.started_at = clock.now()
        self.observability = observability
        if observability is None and config.observability.enabled:
            from gateway.observability import Observability  # (OpenTelemetry, prometheus: only when on)

            self.observability = Observability.from_config(config.observability)
        self.relays: WeakSet[DownstreamRelay] = WeakSet()
        self.events = InMemorySubscriptionBus()
        """Catalogue changes for 2026-07-28 clients, which hear of them on `subscriptions/listen`."""
        self.stdio_principal = Principal(config.auth.stdio_principal, frozenset(config.auth.stdio_roles))
        self._task_group: TaskGroup | None = None
        self._pool: UpstreamPool | None = None
        self._pipeline: Pipeline | None = None
        self._planner: Planner | None = None
        self._operations: Workflows | None = None
        prepare_state_dir(config.state_dir)
        self.saga = SagaStore(config.state_dir / "saga.db")
        self.masker = Masker.for_state_dir(config.state_dir, config.ledger.max_result_bytes)
        self.workflows = WorkflowBook(lambda workflow: _status(self.saga, workflow), _SagaFacts(self.saga))
        self.current = CurrentWorkflows(config.workflows.idle_seconds, self.saga)
        self.manifests = ManifestRegistry.load(config.resolve(config.paths.manifests))
        self.policy = PolicyService(make_engine(config), config.policies_dir, config.policy.query)
        self.ledger: Ledger | None = None
        self.approvals: ApprovalQueue | None = None
        self.guards: Guard | None = None
        """The usage guards (loops, budgets, rates), whose `state()` status and metrics read."""
        guard_state = open_guard_state(config.state_dir, config.ledger.url)
        self.stop_switch = StopSwitch(guard_state, self._record)
        """The kill switch (`rollgate stop`, `POST /api/stop`): read by the pipeline's stop stage."""
        self.pins = Pins(guard_state, self._submit)
        """Pinned tool definitions: vets every catalogue the pool builds (`rollgate tools accept`)."""
        breakers, leases = config.guards.breakers, config.guards.leases
        self.breakers = (
            (
                Breakers(breakers.failures, breakers.cooldown_seconds),
                Breakers(breakers.tool_failures, breakers.cooldown_seconds),
            )
            if breakers.enabled
            else None
        )
        """The upstreams' and the agents' tools' circuit breakers (their `state()` for status and metrics)."""
        self.compensation_breakers = (
            Breakers(breakers.compensation_failures, breakers.compensation_cooldown_seconds)
            if breakers.enabled
            else None
        )
        self.leases = Leases() if leases.enabled else None
        """The resource leases held now (`state()`)."""

    @property
    def pool(self) -> UpstreamPool:
        assert self._pool is not None, "the gateway is not running"
        return self._pool

    @property
    def operations(self) -> Workflows:
        """Workflow operations (checkpoints, quarantine, rollback) for meta-tools, CLI and REST."""
        assert self._operations is not None, "the gateway is not running"
        return self._operations

    @property
    def pipeline(self) -> Pipeline:
        assert self._pipeline is not None, "the gateway is not running"
        return self._pipeline

    @property
    def planner(self) -> Planner:
        assert self._planner is not None, "the gateway is not running"
        return self._planner

    async def dispatch(self, call: Call) -> Result:
        """One downstream tools/call, through the pipeline (the gateway's own tools at its head)."""
        return await self.pipeline.call(call)

    async def refused(self, document: dict[str, object]) -> None:
        """A request refused at the edge (another principal's session): on record."""
        await self._record(CallRefused.model_validate(document))

    def faults(self) -> dict[str, list[dict[str, object]]]:
        """For status and metrics: the breakers that are not simply closed (upstreams, agents'
        tools, compensation tools) with their failures and cool-down left, and the leases held.
        For operators only: a breaker's last error and a lease's workflow are others' business."""
        upstreams, tools = self.breakers or (None, None)
        tables = {"upstream": upstreams, "tool": tools, "compensation": self.compensation_breakers}
        breakers = [{"kind": kind, **asdict(view)} for kind, table in tables.items() if table for view in table.state()]
        leases = [asdict(view) for view in self.leases.state()] if self.leases is not None else []
        return {"breakers": breakers, "leases": leases}

    @property
    def limits(self) -> LimitsConfig:
        return self.config.limits

    def status(self) -> StatusReport:
        """What an operator sees of the running gateway (`rollgate status`, `GET /api/status`)."""
        now = self.clock.now()
        upstreams = [
            UpstreamStatus(name=name, transport=kind, state=state, tools=tools, error=error)  # type: ignore[arg-type]
            for name, kind, state, tools, error in self.pool.states()
        ]
        queue = QueueStatus(enabled=self.approvals is not None)
        if self.approvals is not None:
            pending, oldest = self.approvals.store.waiting()
            queue = QueueStatus(enabled=True, pending=pending, oldest_pending_since=oldest)
        quarantined = [
            Quarantined(kind=kind, id=key, reason=reason, owner=owner)  # type: ignore[arg-type]
            for kind, key, reason, owner in self.saga.all_quarantined()
        ]
        ledger = LedgerStatus(enabled=self.ledger is not None)
        refusals = []
        if self.ledger is not None:
            store = self.ledger.store
            tail = store.tail()
            size = tail.seq if tail is not None else 0
            checkpoints = store.checkpoints()
            ledger = LedgerStatus(
                enabled=True,
                entries=size,
                checkpoints=len(checkpoints),
                last_checkpoint_size=checkpoints[-1][0] if checkpoints else None,
            )
            refusals = recent_refusals(store.rows(start=max(1, size - RECENT_SCAN), kind=EntryKind.CALL_REFUSED.value))
        return StatusReport(
            version=VERSION,
            started_at=self.started_at.isoformat(),
            uptime_seconds=round((now - self.started_at).total_seconds(), 3),
            upstreams=upstreams,
            approvals=queue,
            quarantined=quarantined,
            recent_refusals=refusals,
            ledger=ledger,
            guards=self._guard_states(),
        )

    def _guard_states(self) -> dict[str, Any]:
        """Each guard's `state()`, by name, for the status report (JSON-ready)."""
        states: dict[str, Any] = {
            "stop": self.stop_switch.state().model_dump(mode="json"),
            "pins": self.pins.state().model_dump(mode="json"),
            **self.faults(),
        }
        if self.guards is not None:
            states.update(self.guards.state())
        return states

    @asynccontextmanager
    async def running(self, *, background: bool = False) -> AsyncIterator[Gateway]:
        """Open the ledger and connect the upstreams. In the foreground (`serve`) the catalogue is
        built before this yields (a name collision fails here); in the background (`stdio`) this
        yields at once and each upstream joins the catalogue when it connects (see `UpstreamPool`)."""
        ledger_stages = self._open_ledger() if self.config.ledger.enabled else None
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            self._pool = UpstreamPool(
                self.config.upstreams,
                self.config.namespace,
                tg,
                self.config.limits.max_upstream_links_per_principal,
                pinning=self.pins,
            )
            try:
                if self.ledger is not None:
                    tg.start_soon(self.ledger.sign_periodically, self.config.ledger.checkpoint_interval_seconds)
                self._pool.on_catalog_changed(self._broadcast)
                self._pool.on_upstream_refused(self._upstream_refused)
                await self._pool.start(background=background)
                if not background:
                    for warning in self.manifests.warnings(self._pool.offered()):
                        logger.warning("manifest: %s", warning)
                self.policy.on_reload(self._record_policy_reload)
                await self.policy.load()
                tg.start_soon(self.policy.watch, self.config.policy.reload_interval_seconds)
                watch = ManifestWatch(self.config.resolve(self.config.paths.manifests), self._manifests_reloaded)
                tg.start_soon(watch.run, self.config.policy.reload_interval_seconds)
                approve = self._open_approvals(tg, ledger_stages[1] if ledger_stages else None)
                self._operations = Workflows(
                    self.saga,
                    self._record,
                    self._run_internal,
                    self.approvals,
                    self.masker,
                    compensation_breakers=self.compensation_breakers,
                )
                stages = Stages(
                    lambda: self.pool.catalog,
                    lambda: self.manifests,
                    lambda: self.policy,
                    self.workflows,
                    ledger_stages,
                    approve,
                    self.saga,
                    self._react,
                    reads_ahead=self.config.ledger.read_only_intents == "before_answer",
                    shared_roles=frozenset(self.config.workflows.shared_roles),
                    masker=self.masker,
                    unlisted=self._unlisted,
                    observability=self.observability,
                    guard=self._guard(),
                    stop=self.stop_switch,
                    breakers=self.breakers,
                    leases=(self.leases, self.config.guards.leases) if self.leases is not None else None,
                )
                self._observe_parts()
                self._planner = stages.planner()
                meta_tools = MetaTools(
                    self._planner,
                    self.approvals,
                    self.operations,
                    self.limits,
                    self._record,
                    shared_roles=frozenset(self.config.workflows.shared_roles),
                    started=self.current.start,
                )
                self._pipeline = stages.pipeline(meta_tools)
                if self.approvals is not None:
                    tg.start_soon(self.approvals.run)
                assert self.operations.rollbacks is not None
                tg.start_soon(self.operations.rollbacks.resume)
                yield self
            finally:
                await self.policy.aclose()
                await self._pool.aclose()
                tg.cancel_scope.cancel()
                self._close_ledger()
                if self.observability is not None:
                    self.observability.close()

    def _observe_parts(self) -> None:
        """What the metrics read at scrape, and what reports to them (the ledger's writes).
        The guards' seam: `self.observability.metrics.read_breakers(states)` with a callable
        giving every breaker's `BreakerState`, and `metrics.guard_tripped(guard)` per trip."""
        if self.observability is None:
            return
        metrics = self.observability.metrics
        if self.ledger is not None:
            self.ledger.on_write = metrics.ledger_written
        if self.approvals is not None:
            store = self.approvals.store
            metrics.read_queue_depth(lambda: store.waiting()[0])
        metrics.read_breakers(self._breaker_states)

    def _breaker_states(self) -> list[BreakerState]:
        """Every breaker that is not simply closed, as `/metrics` shows it (`rollgate_breaker_open`)."""
        from gateway.observability.metrics import BreakerState

        return [
            BreakerState(str(view["kind"]), str(view["key"]), str(view["state"]))  # type: ignore[arg-type]
            for view in self.faults()["breakers"]
        ]

    def _guard(self) -> Guard | None:
        """The usage guards of `[guards]` (none when all are off); budgets read the policy data."""
        self.guards = usage_guard(
            self.config.guards,
            lambda: _budgets(self.policy),
            self.workflows.counts,
            self.saga,
            self.operations.quarantine,
        )
        return self.guards

    def _open_ledger(self) -> tuple[Ledger, Masker]:
        witnesses = self.config.ledger.witnesses
        self.ledger, created = open_ledger(self.config, Witnesses(witnesses) if witnesses else None)
        if created:
            self.ledger.append_blocking(KeyRotated(key_id=self.ledger.key.key_id, reason="created"))
        unknown = mark_unknown_outcomes(self.ledger)
        self.ledger.append_blocking(
            GatewayStart(
                version=VERSION,
                key_id=self.ledger.key.key_id,
                unknown_outcomes=unknown,
                upstreams=[u.name for u in self.config.upstreams],
            )
        )
        return self.ledger, self.masker

    def _open_approvals(self, tg: TaskGroup, masker: Masker | None) -> Approve | None:
        settings = self.config.approvals
        if not settings.enabled:
            return None
        database = settings.database if settings.database.is_absolute() else self.config.state_dir / settings.database
        self.approvals = ApprovalQueue(
            ApprovalStore(database),
            settings.ttl_seconds,
            settings.poll_seconds,
            settings.same_call_seconds,
            execute=self._execute_approved,
            record=self._record,
            announce=Notifier(settings.webhooks, settings.public_url, tg).announce,
        )
        return Approve(self.approvals, settings.wait_seconds, self.masker)

    async def _execute_approved(self, ticket: Ticket) -> Result:
        """Run an approved call once, exactly as it was held: the ticket must match the digest
        recorded when the call was held, the tool must still resolve to the same upstream tool,
        and policy is asked again with the approval in its input (quarantine, budgets and denials
        added since still apply); the held decision's masks stay in force."""
        try:
            arguments = self.masker.unseal(ticket.arguments)
        except SealError as exc:
            raise Tampered(f"{ticket.id}: {exc}") from None
        digest = call_digest(ticket.principal, ticket.workflow, ticket.tool, arguments)
        recorded = self._held_digest(ticket)
        if digest != ticket.dedup_key or (self.ledger is not None and recorded != digest):
            raise Tampered(
                f"{ticket.id} does not match the call that was held and recorded "
                "(principal, workflow, tool or arguments changed in the approvals store); it was not run"
            )
        approvers = ", ".join(f"{a.approver} ({a.comment})" if a.comment else a.approver for a in ticket.approvals)
        context = CallContext(
            principal=Principal(ticket.principal, frozenset(ticket.principal_roles)),
            requested_name=ticket.exposed_name,
            arguments=arguments,
            workflow_id=ticket.workflow,
            step=ticket.step,
            correlation_id=ticket.correlation_id,
            meta=ticket.meta,
        )
        call = Call(context=context, links=self.pool.shared.get)
        call.approval = Grant(
            ticket.id,
            tuple(a.approver for a in ticket.approvals),
            tuple(ticket.mask),
            f"approved by {approvers}",
            tuple(frozenset(a.roles) for a in ticket.approvals),
        )
        result = await self.pipeline.call(call)
        if call.tool is not None and call.tool.qualified != ticket.tool:
            raise Tampered(f"{ticket.exposed_name} now resolves to {call.tool.qualified}, not {ticket.tool}")
        if call.decision is None or call.decision.effect is not Effect.ALLOW:
            reasons = "; ".join(call.decision.reasons) if call.decision else "no decision"
            raise ApprovalRefused(f"policy refused the approved call at execution: {reasons}")
        return result

    def _held_digest(self, ticket: Ticket) -> str | None:
        """The call digest the ledger recorded when this ticket was requested."""
        if self.ledger is None:
            return None
        for row in self.ledger.store.rows(kind=EntryKind.APPROVAL_REQUESTED.value, correlation=ticket.correlation_id):
            data = json.loads(row.body)["data"]
            if data.get("approval_id") == ticket.id:
                return str(data.get("call_digest"))
        return None

    async def _react(self, call: Call, failed: bool) -> None:
        """Policy obligations and atomic workflows: quarantine or roll back automatically."""
        workflow = call.context.workflow_id
        obligations = call.decision.obligations if call.decision is not None else None
        if obligations is not None and obligations.quarantine:
            await self.operations.quarantine(workflow, "a policy obligation quarantined this workflow")
        atomic = (
            self.operations.is_atomic(workflow)
            or (obligations is not None and obligations.atomic)
            or (call.manifest is not None and call.manifest.manifest.atomic)
        )
        if (failed and atomic) or (obligations is not None and obligations.rollback):
            assert self._task_group is not None
            self._task_group.start_soon(self._roll_back, workflow)

    async def _roll_back(self, workflow: str) -> None:
        """A rollback that a call's outcome started; traced under that call's span, when recorded."""
        assert self.operations.rollbacks is not None
        if self.observability is None or not self.observability.tracing.recording:
            await self.operations.rollbacks.run(workflow)
            return
        with self.observability.tracing.current("rollback", {"rollgate.workflow.id": workflow}) as span:
            report = await self.operations.rollbacks.run(workflow)
            if span is not None:
                span.set_attribute("rollgate.rollback.status", report.status)

    async def _run_internal(self, tool: str, arguments: dict[str, Any], workflow: str, compensation: bool) -> Result:
        """A call the gateway makes itself (compensations, verification reads), through the pipeline."""
        call = Call(context=compensation_context(tool, arguments, workflow, compensation), links=self.pool.shared.get)
        return await self.pipeline.call(call)

    async def _record(self, event: LedgerEvent) -> None:
        """The `Record` port that approvals and the saga write through."""
        if isinstance(event, RollbackFinished) and self.observability is not None:
            outcomes = {
                "compensated": len(event.compensated),
                "not_applied": len(event.not_applied),
                "escalated": len(event.escalated),
                "failed": len(event.failed),
            }
            self.observability.metrics.rollback_finished(event.status, outcomes)
        if self.ledger is not None:
            await self.ledger.append(event)

    async def record(self, event: LedgerEvent) -> None:
        """On record, from an edge (an operator's action refused to an agent's token)."""
        await self._record(event)

    def _submit(self, event: LedgerEvent) -> None:
        """Record without waiting (the pins notice changes inside a synchronous catalogue rebuild)."""
        if self.ledger is not None:
            self.ledger.submit(event)

    async def accept_definition(
        self, server: str, tool: str, by: str, digest: str | None = None
    ) -> ToolDefinitionAccepted:
        """An operator accepts a held tool definition: pinned, recorded, listed to every client."""
        accepted = self.pins.accept(server, tool, by, digest)
        await self._record(accepted)
        self.pool.revet()
        return accepted

    def _close_ledger(self) -> None:
        if self.ledger is not None:
            with contextlib.suppress(LedgerClosed):
                self.ledger.append_blocking(GatewayStop(version=VERSION))
            self.ledger.close()

    async def _record_policy_reload(self, outcome: dict[str, object]) -> None:
        if self.ledger is not None:
            await self.ledger.append(PolicyReload.model_validate(outcome))

    async def _manifests_reloaded(self, registry: ManifestRegistry | None, outcome: dict[str, object]) -> None:
        """A valid manifest edit replaces the set the pipeline reads (`lambda: self.manifests`)."""
        if registry is not None:
            self.manifests = registry
            for warning in registry.warnings(self.pool.offered()):
                logger.warning("manifest: %s", warning)
        await self._record(ManifestsReload.model_validate(outcome))

    async def _unlisted(self, name: str) -> str | None:
        """Right after start, a call waits as `tools/list` does for the first connection attempts."""
        await self.pool.first_attempts(self.config.stdio.first_listing_wait_seconds)
        return self.pool.why_unlisted(name)

    def _upstream_refused(self, upstream: str, reason: str) -> None:
        assert self._task_group is not None
        self._task_group.start_soon(self._record, UpstreamRefused(upstream=upstream, error=reason))

    def _broadcast(self, method: str) -> None:
        assert self._task_group is not None
        for relay in list(self.relays):
            self._task_group.start_soon(relay.broadcast, method)
        if (event := _LIST_CHANGED_EVENTS.get(method)) is not None:
            self._task_group.start_soon(self.events.publish, event)


_LIST_CHANGED_EVENTS: dict[str, ServerEvent] = {
    "notifications/tools/list_changed": ToolsListChanged(),
    "notifications/prompts/list_changed": PromptsListChanged(),
    "notifications/resources/list_changed": ResourcesListChanged(),
}


class _SagaFacts(PrincipalFacts):
    def __init__(self, saga: SagaStore) -> None:
        self._saga = saga

    def status(self, principal: str) -> tuple[str, str | None]:
        status, reason = self._saga.principal_status(principal)
        return status.value, reason

    def quarantined_of(self, principal: str) -> list[str]:
        return self._saga.quarantined_of(principal)

    def owner_of(self, workflow: str) -> str | None:
        owner = self._saga.owner(workflow)
        return owner.id if owner is not None else None

    def counts(self, kind: str, key: str) -> tuple[int, int]:
        return self._saga.counts(kind, key)

    def save_counts(self, kind: str, key: str, steps: int, mutations: int) -> None:
        self._saga.save_counts(kind, key, steps, mutations)


def make_engine(config: Config) -> PolicyEngine:
    if config.policy.engine == "opa":
        return OpaEngine(config.policy.opa_url, config.policy.opa_timeout_seconds, config.policy.manage_opa_policies)
    return RegorusEngine(config.policy.query)


def _budgets(policy: PolicyService) -> Any:
    """`data.rollgate.budgets` of the policy loaded now (the same object until a reload)."""
    data = policy.loaded.data if policy.loaded is not None else {}
    rollgate = data.get("rollgate")
    return rollgate.get("budgets") if isinstance(rollgate, dict) else None


def _status(saga: SagaStore, workflow: str) -> tuple[str, str | None]:
    status, reason = saga.status(workflow)
    return status.value, (None if reason == "atomic" else reason)
