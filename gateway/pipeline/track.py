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

from gateway.errors import CallError, TemplateError
from gateway.ledger.privacy import Masker
from gateway.manifests import render
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.snapshot import result_data
from gateway.policy.build import idempotency_key
from gateway.saga.model import Compensation, Step, StepStatus
from gateway.saga.store import SagaStore
from gateway.upstream.catalog import Catalog

logger = logging.getLogger(__name__)


class IdempotencyConflict(CallError):
    code = -32602


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
            return await self._record(call, await proceed(call), None)
        slot = (call.context.workflow_id, key)
        while (waiting := self._running.get(slot)) is not None:
            await waiting.wait()  # a concurrent retry: let the first finish, then read its outcome
        earlier = self._saga.by_key(call.context.workflow_id, key)
        if earlier is not None:
            return self._replay(call, earlier, key)
        self._running[slot] = anyio.Event()
        try:
            return await self._record(call, await proceed(call), key)
        finally:
            self._running.pop(slot).set()

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

    def _add_step(self, call: Call, result: Result, key: str | None) -> None:
        assert call.manifest is not None and call.tool is not None
        manifest = call.manifest.manifest
        data = {"args": dict(call.context.arguments), "result": result_data(result), "snapshot": call.snapshot}
        compensation, problem = self._compensation(call, data)
        if compensation is not None and self._masker is not None and call.redacted(self._masker).found:
            compensation = compensation.model_copy(
                update={
                    "arguments": self._seal(call, compensation.arguments),
                    "verify_arguments": self._seal(call, compensation.verify_arguments),
                    "expect": self._seal(call, compensation.expect),
                    "snapshot_arguments": self._seal(call, compensation.snapshot_arguments),
                }
            )
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
            result=self._seal(call, result),
            snapshot=self._seal(call, call.snapshot),
            reversibility=manifest.reversibility.value,
            impact=manifest.impact.value,
            side_effects=manifest.side_effects,
            resources=resources,
            compensation=compensation,
            problem=problem,
            status=StepStatus.IRREVERSIBLE if manifest.reversibility.value == "irreversible" else StepStatus.DONE,
            idempotency_key=key,
        )
        self._saga.add_step(step)

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
            ), None
        except TemplateError as exc:
            return None, f"compensation {spec.tool} cannot be rendered: {exc.message}"
