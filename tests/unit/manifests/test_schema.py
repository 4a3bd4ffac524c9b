"""The tool manifest schema, version 1 (`gateway/manifests/schema.py`).

Pinned: the fixed vocabularies, the template roots each field may name, unknown keys refused,
and `tool_manifests/schema.json` equal to what the models export.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from gateway.manifests.schema import (
    CompensationSpec,
    Impact,
    ManifestFile,
    ReconcileSpec,
    Reversibility,
    SnapshotSpec,
    ToolManifest,
    VerifySpec,
)

ROOT = Path(__file__).resolve().parents[3]
BASE = {"tool": "transfer", "reversibility": "compensable", "impact": "high"}


def test_the_vocabularies_are_the_four_reversibilities_and_four_impacts() -> None:
    assert [r.value for r in Reversibility] == ["read_only", "reversible", "compensable", "irreversible"]
    assert [i.value for i in Impact] == ["low", "medium", "high", "critical"]


def test_a_minimal_manifest_applies_to_every_server_and_has_nothing_to_undo() -> None:
    manifest = ToolManifest.model_validate(BASE)
    assert manifest.server == "*" and manifest.reversibility is Reversibility.COMPENSABLE
    assert (manifest.compensation, manifest.snapshot, manifest.reconcile, manifest.atomic) == (None, None, None, False)
    assert ManifestFile.model_validate({"tools": [BASE]}).version == 1


@pytest.mark.parametrize(
    "document",
    [
        {**BASE, "reversibility": "undoable"},
        {**BASE, "impact": "severe"},
        {**BASE, "tool": ""},
        {**BASE, "server": ""},
        {**BASE, "colour": "red"},
        {**BASE, "compensation": {"tool": "refund", "argz": {}}},
    ],
    ids=["reversibility", "impact", "empty-tool", "empty-server", "unknown-key", "unknown-nested-key"],
)
def test_a_manifest_outside_the_schema_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ToolManifest.model_validate(document)


def test_only_version_1_files_are_read() -> None:
    with pytest.raises(ValidationError, match="version"):
        ManifestFile.model_validate({"version": 2, "tools": []})


@pytest.mark.parametrize(
    ("model", "field", "allowed", "refused"),
    [
        (CompensationSpec, "args", ["args", "result", "snapshot"], "compensation"),
        (VerifySpec, "args", ["args", "compensation", "result", "snapshot"], "principal"),
        (VerifySpec, "expect", ["args", "compensation", "result", "snapshot"], "workflow"),
        (SnapshotSpec, "args", ["args"], "result"),
        (ReconcileSpec, "args", ["args", "snapshot"], "result"),
    ],
)
def test_each_template_field_names_only_its_own_roots(model: Any, field: str, allowed: list[str], refused: str) -> None:
    for root in allowed:
        model.model_validate({"tool": "t", field: {"x": f"id {{{root}.id}}", "nested": [f"{{{root}.a.b}}"]}})
    with pytest.raises(ValidationError, match=re.escape(f"x: {{{refused}.id}} must start with one of {allowed}")):
        model.model_validate({"tool": "t", field: {"x": f"{{{refused}.id}}"}})


def test_blast_radius_names_args_or_result_and_an_idempotency_key_args_principal_or_workflow() -> None:
    ToolManifest.model_validate({**BASE, "blast_radius": ["account:{args.id}", "customer:{result.id}"]})
    ToolManifest.model_validate({**BASE, "idempotency_key": "{principal}-{workflow}-{args.memo}"})
    with pytest.raises(ValidationError, match="must start with one of"):
        ToolManifest.model_validate({**BASE, "blast_radius": ["{snapshot.id}"]})
    with pytest.raises(ValidationError, match="must start with one of"):
        ToolManifest.model_validate({**BASE, "idempotency_key": "{result.id}"})


def test_a_reconcile_read_finds_the_effect_only_in_its_result() -> None:
    assert ReconcileSpec(tool="find").found == "result"
    assert ReconcileSpec(tool="find", found="result.items").found == "result.items"
    for wrong in ["args.id", "results", "snapshot.result"]:
        with pytest.raises(ValidationError, match="must be a path of the read's result"):
            ReconcileSpec(tool="find", found=wrong)


def test_a_manifest_is_frozen() -> None:
    manifest = ToolManifest.model_validate(BASE)
    with pytest.raises(ValidationError, match="frozen"):
        manifest.impact = Impact.LOW  # type: ignore[misc]


def test_the_committed_json_schema_is_the_one_the_models_export() -> None:
    assert json.loads((ROOT / "tool_manifests" / "schema.json").read_text()) == ManifestFile.model_json_schema()


def test_the_shipped_demo_manifests_validate() -> None:
    document = yaml.safe_load((ROOT / "tool_manifests" / "demo.yaml").read_text())
    tools = ManifestFile.model_validate(document).tools
    assert tools and all(tool.server == "demo" for tool in tools)
