"""Policy input documents for tests."""

from __future__ import annotations

from gateway.clock import SYSTEM
from gateway.manifests import Impact, Reversibility, ToolManifest
from gateway.manifests.registry import ResolvedManifest
from gateway.models import CallContext, Principal, ToolRef
from gateway.policy import PolicyInput, WorkflowDoc, build_input


def policy_input(
    reversibility: str, impact: str, *, confidence: float | None = None, **workflow: object
) -> PolicyInput:
    meta = {} if confidence is None else {"rollgate/confidence": confidence}
    context = CallContext(Principal("agent", frozenset({"agent"})), "demo__tool", {}, "wf", None, "c1", meta)
    manifest = ToolManifest(
        server="demo", tool="tool", reversibility=Reversibility(reversibility), impact=Impact(impact)
    )
    return build_input(
        context,
        ToolRef("demo", "tool"),
        ResolvedManifest(manifest, "manifest"),
        WorkflowDoc(id="wf", **workflow),
        now=SYSTEM.now(),
    )  # type: ignore[arg-type]
