"""Step one of three: build the policy input from the call, its manifest and its workflow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.manifests import ResolvedManifest, render
from gateway.models import META_CONFIDENCE, META_IDEMPOTENCY_KEY, CallContext, ToolRef
from gateway.policy.document import (
    ApprovalDoc,
    CallDoc,
    PolicyInput,
    PrincipalDoc,
    SignalsDoc,
    TimeDoc,
    ToolDoc,
    WorkflowDoc,
)


def build_input(
    context: CallContext,
    tool: ToolRef,
    resolved: ResolvedManifest,
    workflow: WorkflowDoc,
    annotations: dict[str, Any] | None = None,
    *,
    now: datetime,
    principal: PrincipalDoc | None = None,
    approval: ApprovalDoc | None = None,
    signals: SignalsDoc | None = None,
    definition_changed: bool = False,
) -> PolicyInput:
    """The policy input of one call.

    Built with `model_construct`: every part comes from values the gateway has validated already
    (the call's context, the manifest, the workflow book), and validating them again cost about
    a third of the decide stage. `test_build` checks that what is built validates unchanged.
    `now` is the call's time by the gateway's clock (`gateway.clock`); `signals` are what the guard
    stages measured (`gateway.pipeline.guard`); `definition_changed` says the tool is held for a
    changed definition (`gateway.guards.pins`).
    """
    return PolicyInput.model_construct(
        principal=principal
        or PrincipalDoc.model_construct(
            id=context.principal.id,
            roles=sorted(context.principal.roles),
            quarantined=False,
            quarantine_reason=None,
            quarantined_workflows=[],
            mutations=0,
        ),
        workflow=workflow,
        tool=ToolDoc.model_construct(
            name=context.requested_name,
            server=tool.upstream,
            upstream_name=tool.name,
            qualified=tool.qualified,
            manifest=_manifest_document(resolved, tool),
            manifest_source=resolved.source,
            annotations=annotations or {},
            definition_changed=definition_changed,
        ),
        arguments=dict(context.arguments),
        call=CallDoc.model_construct(
            correlation_id=context.correlation_id,
            step=context.step,
            meta=dict(context.meta),
            confidence=_confidence(context.meta.get(META_CONFIDENCE)),
            idempotency_key=idempotency_key(context, resolved),
        ),
        compensation=context.compensation,
        approval=approval,
        time=TimeDoc.model_construct(now=now.isoformat(), unix=now.timestamp(), weekday=now.weekday(), hour=now.hour),
        signals=signals or SignalsDoc(),
    )


def _manifest_document(resolved: ResolvedManifest, tool: ToolRef) -> dict[str, Any]:
    manifest = resolved.manifest.model_dump(mode="json", exclude_none=True)
    manifest["server"], manifest["tool"] = tool.upstream, tool.name
    return manifest


def _confidence(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def idempotency_key(context: CallContext, resolved: ResolvedManifest) -> str | None:
    explicit = context.meta.get(META_IDEMPOTENCY_KEY)
    if isinstance(explicit, str) and explicit:
        return explicit
    template = resolved.manifest.idempotency_key
    if template is None:
        return None
    data = {
        "args": context.arguments,
        "principal": {"id": context.principal.id},
        "workflow": {"id": context.workflow_id},
    }
    return str(render(template, data))
