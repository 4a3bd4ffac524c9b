"""The policy input is built without validation (`model_construct`): what is built must validate unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.manifests import Impact, Reversibility, ToolManifest
from gateway.manifests.registry import ResolvedManifest
from gateway.models import CallContext, Principal, ToolRef
from gateway.policy import PolicyInput, WorkflowDoc, build_input


def test_the_built_input_is_what_validation_would_have_made_of_it() -> None:
    context = CallContext(
        Principal("agent-1", frozenset({"ops", "agent"})),
        "crm__create_customer",
        {"name": "Ada", "tags": ["a", "b"], "limit": 3},
        "wf-1",
        "2",
        "corr-1",
        {"rollgate/confidence": 0.4, "rollgate/workflow": "wf-1", "other": {"x": 1}},
        compensation=True,
    )
    manifest = ToolManifest(
        server="crm", tool="create_customer", reversibility=Reversibility("compensable"), impact=Impact("medium")
    )
    workflow = WorkflowDoc(id="wf-1", status="quarantined", status_reason="why", steps=2, mutations=1)
    built = build_input(
        context,
        ToolRef("crm", "create_customer"),
        ResolvedManifest(manifest, "manifest", "crm.yaml"),
        workflow,
        {"destructiveHint": False},
        now=datetime(2026, 12, 1, 20, 30, tzinfo=UTC),
    )
    validated = PolicyInput.model_validate_json(built.model_dump_json())
    assert validated == built
    assert validated.model_dump_json() == built.model_dump_json()
    assert built.principal.roles == ["agent", "ops"]
    assert built.call.confidence == 0.4
    assert built.tool.manifest["server"] == "crm" and built.tool.manifest["impact"] == "medium"
    assert built.version == "rollgate.policy/v1" and built.compensation is True
    assert built.time.hour == 20 and built.time.weekday == 1
