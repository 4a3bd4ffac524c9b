"""The running gateway: configuration, upstream pool, pipeline, and the live downstream sessions."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
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

from gateway.approvals.notify import Notifier
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.store import ApprovalStore
from gateway.approvals.ticket import Ticket
from gateway.config import Config
from gateway.ledger import EntryKind, Ledger, LedgerClosed, Masker, mark_unknown_outcomes, open_ledger
from gateway.manifests import ManifestRegistry
from gateway.models import CallContext, Principal
from gateway.pipeline import Call, Pipeline, Planner, Result, Stages
from gateway.pipeline.approve import Approve
from gateway.policy import Decision, Effect, OpaEngine, PolicyEngine, PolicyService, RegorusEngine
from gateway.saga.service import Workflows, compensation_context
from gateway.saga.store import SagaStore
from gateway.server.metatools import META_TOOLS, call_meta_tool
from gateway.server.sessions import SessionTable
from gateway.upstream.pool import UpstreamPool
from gateway.upstream.relay import DownstreamRelay
from gateway.workflows import WorkflowBook

logger = logging.getLogger(__name__)

VERSION = "0.1.0"


class Gateway:
    """Everything a request handler needs, built once per process."""

    version = VERSION

    def __init__(self, config: Config) -> None:
        self.config = config
        self.relays: WeakSet[DownstreamRelay] = WeakSet()
        self.events = InMemorySubscriptionBus()
        """Catalogue changes for 2026-07-28 clients, which hear of them on `subscriptions/listen`."""
        self.sessions = SessionTable()
        self.stdio_principal = Principal(config.auth.stdio_principal, frozenset(config.auth.stdio_roles))
        self._task_group: TaskGroup | None = None
        self._pool: UpstreamPool | None = None
        self._pipeline: Pipeline | None = None
        self._planner: Planner | None = None
        self.saga = SagaStore(config.state_dir / "saga.db")
        self.workflows = WorkflowBook(lambda workflow: _status(self.saga, workflow))
        self.operations = Workflows(self.saga, self._record)
        self.manifests = ManifestRegistry.load(config.resolve(config.paths.manifests))
        self.policy = PolicyService(make_engine(config), config.resolve(config.paths.policies), config.policy.query)
        self.ledger: Ledger | None = None
        self.approvals: ApprovalQueue | None = None
        self._executor: Pipeline | None = None

    @property
    def pool(self) -> UpstreamPool:
        assert self._pool is not None, "the gateway is not running"
        return self._pool

    @property
    def pipeline(self) -> Pipeline:
        assert self._pipeline is not None, "the gateway is not running"
        return self._pipeline

    @property
    def planner(self) -> Planner:
        assert self._planner is not None, "the gateway is not running"
        return self._planner

    async def dispatch(self, call: Call) -> Result:
        """One tools/call: a meta-tool of the gateway's own, or the pipeline towards an upstream."""
        if call.context.requested_name in META_TOOLS:
            return await call_meta_tool(call, self.planner, self.approvals, self.operations)
        return await self.pipeline.call(call)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        """Open the ledger, connect the upstreams and build the catalogue (a name collision fails here)."""
        ledger_stages = self._open_ledger() if self.config.ledger.enabled else None
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            self._pool = UpstreamPool(self.config.upstreams, self.config.namespace, tg)
            try:
                if self.ledger is not None:
                    tg.start_soon(self.ledger.sign_periodically, self.config.ledger.checkpoint_interval_seconds)
                await self._pool.start()
                self._pool.on_catalog_changed(self._broadcast)
                for warning in self.manifests.warnings(self._pool.offered()):
                    logger.warning("manifest: %s", warning)
                self.policy.on_reload(self._record_policy_reload)
                await self.policy.load()
                tg.start_soon(self.policy.watch, self.config.policy.reload_interval_seconds)
                approve = self._open_approvals(tg, ledger_stages[1] if ledger_stages else None)
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
                )
                self._pipeline, self._planner = stages.pipeline(), stages.planner()
                self._executor = stages.executor()
                self.operations.bind(self._run_internal, self.approvals)
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

    def _open_ledger(self) -> tuple[Ledger, Masker]:
        self.ledger, created = open_ledger(self.config)
        if created:
            self.ledger.append_blocking(EntryKind.KEY_ROTATED, {"key_id": self.ledger.key.key_id, "reason": "created"})
        unknown = mark_unknown_outcomes(self.ledger)
        self.ledger.append_blocking(
            EntryKind.GATEWAY_START,
            {
                "version": VERSION,
                "key_id": self.ledger.key.key_id,
                "unknown_outcomes": unknown,
                "upstreams": [u.name for u in self.config.upstreams],
            },
        )
        return self.ledger, Masker.for_state_dir(self.config.state_dir, self.config.ledger.max_result_bytes)

    def _open_approvals(self, tg: TaskGroup, masker: Masker | None) -> Approve | None:
        settings = self.config.approvals
        if not settings.enabled:
            return None
        database = settings.database if settings.database.is_absolute() else self.config.state_dir / settings.database
        self.approvals = ApprovalQueue(ApprovalStore(database), settings.ttl_seconds, settings.poll_seconds)
        self.approvals.execute = self._execute_approved
        self.approvals.record = self._record
        notifier = Notifier(settings.webhooks, settings.public_url, tg)
        self.approvals.announce = notifier.announce
        return Approve(self.approvals, settings.wait_seconds, masker)

    async def _execute_approved(self, ticket: Ticket) -> Result:
        """Run an approved call once, through the executor chain, on the shared upstream links."""
        assert self._executor is not None
        approvers = ", ".join(f"{a.approver} ({a.comment})" if a.comment else a.approver for a in ticket.approvals)
        context = CallContext(
            principal=Principal(ticket.principal, frozenset(ticket.principal_roles)),
            requested_name=ticket.exposed_name,
            arguments=ticket.arguments,
            workflow_id=ticket.workflow,
            step=ticket.step,
            correlation_id=ticket.correlation_id,
            meta=ticket.meta,
        )
        call = Call(context=context, links=self.pool.shared.get)
        call.decision = Decision(
            effect=Effect.ALLOW,
            reasons=[f"approved by {approvers}"],
            decision_id=ticket.decision_id,
            approvers=ticket.rules,
        )
        result = await self._executor.call(call)
        if call.manifest is not None:
            mutation = call.manifest.manifest.reversibility.value != "read_only"
            self.workflows.record(ticket.workflow, mutation=mutation)
        return result

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
            assert self._task_group is not None and self.operations.rollbacks is not None
            self._task_group.start_soon(self.operations.rollbacks.run, workflow)

    async def _run_internal(self, tool: str, arguments: dict[str, Any], workflow: str, compensation: bool) -> Result:
        """A call the gateway makes itself (compensations, verification reads), through the pipeline."""
        call = Call(context=compensation_context(tool, arguments, workflow, compensation), links=self.pool.shared.get)
        return await self.pipeline.call(call)

    async def _record(self, kind: str, data: dict[str, object]) -> None:
        if self.ledger is not None:
            await self.ledger.append(kind, data)

    def _close_ledger(self) -> None:
        if self.ledger is not None:
            with contextlib.suppress(LedgerClosed):
                self.ledger.append_blocking(EntryKind.GATEWAY_STOP, {"version": VERSION})
            self.ledger.close()

    async def _record_policy_reload(self, outcome: dict[str, object]) -> None:
        if self.ledger is not None:
            await self.ledger.append(EntryKind.POLICY_RELOAD, outcome)

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


def make_engine(config: Config) -> PolicyEngine:
    if config.policy.engine == "opa":
        return OpaEngine(config.policy.opa_url, config.policy.opa_timeout_seconds, config.policy.manage_opa_policies)
    return RegorusEngine(config.policy.query)


def _status(saga: SagaStore, workflow: str) -> tuple[str, str | None]:
    status, reason = saga.status(workflow)
    return status.value, (None if reason == "atomic" else reason)
