"""Finding the manifest of the tool that will actually run.

Lookup is by the resolved upstream server and the upstream's own tool name, never by the name
the client sent. Exact entries win over globs; among globs, the first in file order wins. A tool
without a manifest gets one derived from its MCP annotations; a tool with neither is treated as
irreversible and high impact.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mcp_types as types

from gateway.manifests.files import manifest_paths, read_manifest_file
from gateway.manifests.schema import Impact, Reversibility, ToolManifest
from gateway.manifests.templates import paths_in

Source = Literal["manifest", "annotations", "default"]


@dataclass(frozen=True, slots=True)
class ResolvedManifest:
    manifest: ToolManifest
    source: Source
    file: str | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    manifest: ToolManifest
    file: str

    @property
    def exact(self) -> bool:
        return not any(ch in self.manifest.server + self.manifest.tool for ch in "*?[")

    def matches(self, upstream: str, tool: str) -> bool:
        return fnmatch.fnmatchcase(upstream, self.manifest.server) and fnmatch.fnmatchcase(tool, self.manifest.tool)


class ManifestRegistry:
    def __init__(self, entries: list[_Entry] | None = None) -> None:
        entries = entries or []
        self._entries = [e for e in entries if e.exact] + [e for e in entries if not e.exact]

    @classmethod
    def load(cls, directory: Path) -> ManifestRegistry:
        """Every `*.yaml`/`*.yml` file below `directory`; an invalid file raises ManifestError naming
        its file and line."""
        entries: list[_Entry] = []
        for path in manifest_paths(directory):
            entries.extend(_Entry(manifest, str(path)) for manifest in read_manifest_file(path).tools)
        return cls(entries)

    @property
    def count(self) -> int:
        """How many manifest entries (exact and glob) are loaded."""
        return len(self._entries)

    def resolve(self, upstream: str, tool: types.Tool | None, name: str) -> ResolvedManifest:
        for entry in self._entries:
            if entry.matches(upstream, name):
                return ResolvedManifest(entry.manifest, "manifest", entry.file)
        return from_annotations(name, tool.annotations if tool is not None else None)

    def warnings(self, offered: dict[str, list[types.Tool]]) -> list[str]:
        """Manifests that match no offered tool, and argument paths the tool's inputSchema lacks."""
        found: list[str] = []
        for entry in self._entries:
            manifest = entry.manifest
            matching = [
                tool for upstream, tools in offered.items() for tool in tools if entry.matches(upstream, tool.name)
            ]
            if not matching:
                found.append(f"{entry.file}: {manifest.server}/{manifest.tool} matches no tool any upstream offers")
            for tool in matching:
                properties = set((tool.input_schema or {}).get("properties", {}) or {})
                for path in _argument_paths(manifest):
                    if properties and path not in properties:
                        found.append(
                            f"{entry.file}: {manifest.tool}: {{args.{path}}} is not an argument of {tool.name}"
                        )
        return found


def _argument_paths(manifest: ToolManifest) -> set[str]:
    templates: list[str] = [*manifest.blast_radius]
    if manifest.idempotency_key:
        templates.append(manifest.idempotency_key)
    for spec in (manifest.compensation, manifest.snapshot):
        if spec is not None:
            templates.extend(str(v) for v in spec.args.values())
    return {path.split(".")[1] for t in templates for path in paths_in(t) if path.startswith("args.")}


def from_annotations(name: str, annotations: types.ToolAnnotations | None) -> ResolvedManifest:
    """MCP annotations as a fallback manifest (spec defaults: destructive and open-world unless said)."""
    if annotations is None:
        return ResolvedManifest(
            ToolManifest(
                tool=name,
                reversibility=Reversibility.IRREVERSIBLE,
                impact=Impact.HIGH,
                side_effects=["unknown: no manifest and no annotations"],
            ),
            "default",
        )
    open_world = annotations.open_world_hint is not False
    if annotations.read_only_hint:
        reversibility, impact = Reversibility.READ_ONLY, Impact.LOW
    elif annotations.destructive_hint is False:
        reversibility, impact = Reversibility.REVERSIBLE, Impact.HIGH if open_world else Impact.MEDIUM
    else:
        reversibility, impact = Reversibility.IRREVERSIBLE, Impact.HIGH
    effects = ["reaches outside systems"] if open_world and not annotations.read_only_hint else []
    return ResolvedManifest(
        ToolManifest(tool=name, reversibility=reversibility, impact=impact, side_effects=effects), "annotations"
    )
