"""Stage 9: idempotency, and the saga step of every completed mutation.

Before forwarding: a call whose idempotency key (from `_meta["rollgate/idempotency_key"]`, else the
manifest's template) was already completed in this workflow returns the recorded result and is not
run again; the same key with other arguments is an error; concurrent retries wait for the first.
After forwarding: a successful mutation becomes a saga step with its rendered compensation, its
before-image and its blast-radius resource keys, so it can be rolled back later.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from gateway.errors import IdempotencyConflict, OutcomeUnknownError, TemplateError
from gateway.ledger.privacy import Masker
from gateway.manifests import render
from gateway.models import result_data
from gateway.pipeline.call import Call, Proceed, Result
from gateway.policy.build import idempotency_key
from gateway.saga.model import Compensation, Reconcile, Step, StepStatus
from gateway.saga.store import SagaStore
from gateway.upstream.catalog import Catalog

logger = logging.getLogger(__name__)


React = Callable[[Call, bool], Awaitable[None]]
"""Called after each mutation with (call, failed): automatic rollback and quarantine hang here."""


class Track:
    def __init__(self, saga: SagaStore, catalog: Any, react: React | None = None, masker: Masker | None = None) -> None:
        self._saga = saga
        self._masker = masker
        self._catalog = catalog
        self._react = react
        self._running: dict[tuple[str, str], anyio.Event] = {}

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        manifest = call.manifest
        if manifest is None or call.context.compensation or manifest.manifest.reversibility.value == "read_only":
            return await proceed(call)
        key = idempotency_key(call.context, manifest)
        if key is None:
            return await self._record(call, await self._forwarded(call, proceed, None), None)
        slot = (call.context.workflow_id, key)
        while (waiting := self._running.get(slot)) is not None:
            await waiting.wait()  # a concurrent retry: let the first finish, then read its outcome
        earlier = self._saga.by_key(call.context.workflow_id, key)
        if earlier is not None:
            return self._replay(call, earlier, key)
        self._running[slot] = anyio.Event()
        try:
            return await self._record(call, await self._forwarded(call, proceed, key), key)
        finally:
            self._running.pop(slot).set()

    async def _forwarded(self, call: Call, proceed: Proceed, key: str | None) -> Result:
        """The upstream's answer; a call that got none (timed out, lost, cancelled) becomes a step
        of unknown outcome before the error goes on, so a rollback can still find and settle it."""
        try:
            return await proceed(call)
        except (OutcomeUnknownError, anyio.get_cancelled_exc_class()):
            if call.intent_seq is not None and call.tool is not None:  # it was forwarded
                self._add_unknown_step(call, key)
            raise

    def _open(self, value: Any) -> Any:
        return self._masker.unseal(value) if self._masker is not None else value

    def _seal(self, call: Call, value: Any) -> Any:
        return self._masker.seal_if(call.redacted(self._masker), value) if self._masker is not None else value

    def _replay(self, call: Call, earlier: Step, key: str) -> Result:
        if self._open(earlier.arguments) != dict(call.context.arguments):
            raise IdempotencyConflict(
                f"idempotency key {key!r} was used for this workflow's step {earlier.seq} with other arguments"
            )
        opened = self._open(earlier.result)
        recorded = opened if isinstance(opened, dict) else {}
        return {**recorded, "_meta": {**recorded.get("_meta", {}), "rollgate/replayed_step": earlier.seq}}

    async def _record(self, call: Call, result: Result, key: str | None) -> Result:
        failed = bool(result.get("isError"))
        if not failed and call.manifest is not None and call.tool is not None:
            self._add_step(call, result, key)
        if self._react is not None:
            await self._react(call, failed)
        return result

    def _add_step(self, call: Call, result: Result | None, key: str | None) -> None:
        assert call.manifest is not None and call.tool is not None
        manifest = call.manifest.manifest
        data = {
            "args": dict(call.context.arguments),
            "result": result_data(result) if result is not None else None,
            "snapshot": call.snapshot,
        }
        compensation, problem = self._compensation(call, data) if result is not None else (None, None)
        if compensation is not None and self._masker is not None and call.redacted(self._masker).found:
            compensation = compensation.model_copy(
                update={
                    "arguments": self._seal(call, compensation.arguments),
                    "verify_arguments": self._seal(call, compensation.verify_arguments),
                    "expect": self._seal(call, compensation.expect),
                    "snapshot_arguments": self._seal(call, compensation.snapshot_arguments),
                }
            )
        if result is None:
            status = StepStatus.UNKNOWN
        else:
            status = StepStatus.IRREVERSIBLE if manifest.reversibility.value == "irreversible" else StepStatus.DONE
        resources = []
        for template in manifest.blast_radius:
            try:
                resources.append(str(render(template, data)))
            except TemplateError as exc:
                logger.warning("blast radius %s of %s not rendered: %s", template, call.tool.qualified, exc.message)
        step = Step(
            seq=0,
            workflow=call.context.workflow_id,
            correlation_id=call.context.correlation_id,
            principal=call.context.principal.id,
            tool=call.tool.qualified,
            exposed_name=call.context.requested_name,
            arguments=self._seal(call, dict(call.context.arguments)),
            result=self._seal(call, result) if result is not None else None,
            snapshot=self._seal(call, call.snapshot),
            reversibility=manifest.reversibility.value,
            impact=manifest.impact.value,
            side_effects=manifest.side_effects,
            resources=resources,
            compensation=compensation,
            problem=problem,
            status=status,
            idempotency_key=key,
            reconcile=self._reconcile(call, data) if result is None else None,
        )
        self._saga.add_step(step)

    def _add_unknown_step(self, call: Call, key: str | None) -> None:
        try:
            self._add_step(call, None, key)
        except Exception:  # the ledger has the outcome_unknown entry; say what the saga lacks
            logger.exception("the step of %s (outcome unknown) was not saved", call.context.correlation_id)

    def _reconcile(self, call: Call, data: dict[str, Any]) -> Reconcile:
        """The read that will tell whether the call took effect, rendered now (its arguments come
        from the call), and the compensation's templates, rendered once it has told."""
        assert call.manifest is not None and call.tool is not None
        manifest, upstream = call.manifest.manifest, call.tool.upstream
        catalog: Catalog = self._catalog()
        spec, comp, snap = manifest.reconcile, manifest.compensation, manifest.snapshot
        templates = None
        if comp is not None:
            templates = comp.model_dump()
            templates["tool"] = catalog.exposed(upstream, comp.tool)
            if comp.verify is not None:
                templates["verify"]["tool"] = catalog.exposed(upstream, comp.verify.tool)
        snapshot = None
        if snap is not None and call.snapshot is not None:
            snapshot = {**snap.model_dump(), "tool": catalog.exposed(upstream, snap.tool)}
        tool, arguments, found = None, {}, "result"
        if spec is not None:
            try:
                tool, arguments, found = catalog.exposed(upstream, spec.tool), render(spec.args, data), spec.found
            except TemplateError as exc:
                logger.warning("reconcile read of %s not rendered: %s", call.tool.qualified, exc.message)
        return Reconcile(
            tool=tool,
            arguments=self._seal(call, arguments),
            found=found,
            compensation=self._seal(call, templates),
            snapshot=snapshot,
        )

    def _compensation(self, call: Call, data: dict[str, Any]) -> tuple[Compensation | None, str | None]:
        assert call.manifest is not None and call.tool is not None
        spec, snap = call.manifest.manifest.compensation, call.manifest.manifest.snapshot
        if spec is None:
            return None, None
        catalog: Catalog = self._catalog()
        upstream = call.tool.upstream
        try:
            verify = spec.verify
            return Compensation(
                tool=catalog.exposed(upstream, spec.tool),
                arguments=render(spec.args, data),
                verify_tool=catalog.exposed(upstream, verify.tool) if verify else None,
                verify_arguments=render(verify.args, data) if verify else {},
                expect=render(verify.expect, data) if verify else {},
                snapshot_tool=catalog.exposed(upstream, snap.tool) if snap and call.snapshot is not None else None,
                snapshot_arguments=render(snap.args, data) if snap and call.snapshot is not None else {},
                volatile=snap.volatile if snap else [],
                idempotent=spec.idempotent,
            ), None
        except TemplateError as exc:
            return None, f"compensation {spec.tool} cannot be rendered: {exc.message}"
