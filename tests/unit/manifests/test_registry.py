from __future__ import annotations

from pathlib import Path

import mcp_types as types
import pytest

from gateway.errors import ManifestError
from gateway.manifests import Impact, ManifestRegistry, Reversibility, from_annotations

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "m.yaml").write_text(text)
    return tmp_path


def test_the_demo_manifests_load_and_resolve_by_upstream_and_tool() -> None:
    registry = ManifestRegistry.load(ROOT / "tool_manifests")
    transfer = registry.resolve("demo", None, "transfer")
    assert transfer.source == "manifest" and transfer.manifest.reversibility is Reversibility.COMPENSABLE
    assert transfer.manifest.compensation is not None and transfer.manifest.compensation.tool == "refund"
    assert registry.resolve("demo", None, "get_account").manifest.reversibility is Reversibility.READ_ONLY
    # another upstream's tool of the same name is not covered by the demo's manifest
    assert registry.resolve("other", None, "transfer").source == "default"


def test_exact_entries_win_over_globs(tmp_path: Path) -> None:
    registry = ManifestRegistry.load(
        write(
            tmp_path,
            """
version: 1
tools:
  - {server: s, tool: "get_*", reversibility: read_only, impact: low}
  - {server: s, tool: get_secret, reversibility: read_only, impact: critical}
""",
        )
    )
    assert registry.resolve("s", None, "get_secret").manifest.impact is Impact.CRITICAL
    assert registry.resolve("s", None, "get_other").manifest.impact is Impact.LOW


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version: 1\ntools:\n  - {tool: x, reversibility: maybe, impact: low}\n", "tools.0.reversibility"),
        ("version: 2\ntools: []\n", "version"),
        (
            "version: 1\ntools:\n  - {tool: x, reversibility: compensable, impact: low,"
            " compensation: {tool: y, args: {a: '{env.HOME}'}}}\n",
            "must start with one of",
        ),
        ("version: 1\ntools: [\n", "not valid YAML"),
    ],
)
def test_an_invalid_file_is_an_error_naming_the_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ManifestError) as refused:
        ManifestRegistry.load(write(tmp_path, text))
    assert "m.yaml" in str(refused.value) and fragment in str(refused.value)


def test_a_manifest_for_a_tool_nobody_offers_is_a_warning(tmp_path: Path) -> None:
    registry = ManifestRegistry.load(
        write(
            tmp_path,
            """
version: 1
tools:
  - {server: s, tool: ghost, reversibility: read_only, impact: low}
  - {server: s, tool: move, reversibility: reversible, impact: low, blast_radius: ["acct:{args.acount}"]}
""",
        )
    )
    tool = types.Tool(name="move", input_schema={"type": "object", "properties": {"account": {"type": "string"}}})
    warnings = registry.warnings({"s": [tool]})
    assert any("ghost matches no tool" in w for w in warnings)
    assert any("{args.acount} is not an argument of move" in w for w in warnings)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (None, ("irreversible", "high", "default")),
        (types.ToolAnnotations(read_only_hint=True), ("read_only", "low", "annotations")),
        (types.ToolAnnotations(destructive_hint=False, open_world_hint=False), ("reversible", "medium", "annotations")),
        (types.ToolAnnotations(destructive_hint=False), ("reversible", "high", "annotations")),
        (types.ToolAnnotations(), ("irreversible", "high", "annotations")),
        (types.ToolAnnotations(destructive_hint=True, open_world_hint=False), ("irreversible", "high", "annotations")),
    ],
)
def test_annotations_are_the_fallback_and_nothing_means_irreversible_and_high(annotations, expected) -> None:
    resolved = from_annotations("t", annotations)
    assert (resolved.manifest.reversibility.value, resolved.manifest.impact.value, resolved.source) == expected
