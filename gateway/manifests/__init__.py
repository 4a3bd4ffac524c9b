"""Tool manifests: reversibility, impact, compensation, snapshot, idempotency, blast radius."""

from gateway.manifests.registry import ManifestRegistry, ResolvedManifest, from_annotations
from gateway.manifests.schema import (
    CompensationSpec,
    Impact,
    ManifestFile,
    Reversibility,
    SnapshotSpec,
    ToolManifest,
    VerifySpec,
)
from gateway.manifests.templates import render
from gateway.manifests.watch import ManifestWatch

__all__ = [
    "CompensationSpec",
    "Impact",
    "ManifestFile",
    "ManifestRegistry",
    "ManifestWatch",
    "ResolvedManifest",
    "Reversibility",
    "SnapshotSpec",
    "ToolManifest",
    "VerifySpec",
    "from_annotations",
    "render",
]
