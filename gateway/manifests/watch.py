"""Hot reload of tool manifests, as for policies: an edit is taken without a restart.

The directory is polled every `policy.reload_interval_seconds` (works on every filesystem). A
valid edit gives a new registry, which the gateway swaps in: the pipeline reads the current one
for each call. A broken edit keeps the last good set and logs the error, which names the file and
line. Every attempt is handed to the gateway with the files' digests, for the ledger
(`manifests.reload`), so the record says which manifests were in force.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from gateway.errors import ManifestError
from gateway.manifests.files import manifest_paths
from gateway.manifests.registry import ManifestRegistry

__all__ = ["ManifestWatch", "Reloaded", "fingerprint"]

logger = logging.getLogger(__name__)

Reloaded = Callable[[ManifestRegistry | None, dict[str, object]], Awaitable[None]]
"""Told the new registry (None when the edit was refused) and the outcome to record."""


def fingerprint(directory: Path) -> dict[str, str]:
    """Each manifest file's SHA-256 by its path below `directory`: content, not mtime, so an edit
    within the filesystem's timestamp granularity is still seen."""
    found: dict[str, str] = {}
    for path in manifest_paths(directory):
        try:
            found[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:  # removed between listing and reading: the next poll sees the new state
            continue
    return found


class ManifestWatch:
    def __init__(self, directory: Path, reloaded: Reloaded) -> None:
        self.directory = directory
        self._reloaded = reloaded
        self._seen = fingerprint(directory)

    async def run(self, interval: float) -> None:
        """Reload whenever a manifest file is added, changed or removed."""
        while True:
            await anyio.sleep(interval)
            current = await anyio.to_thread.run_sync(fingerprint, self.directory)
            if current != self._seen:
                self._seen = current
                await self.reload(current)

    async def reload(self, files: dict[str, str]) -> None:
        try:
            registry = ManifestRegistry.load(self.directory)
        except (ManifestError, OSError) as exc:
            logger.error("manifests not reloaded, keeping the last good set: %s", exc)
            await self._reloaded(None, {"ok": False, "error": str(exc), "directory": str(self.directory)})
            return
        logger.info("manifests reloaded: %d entries in %d files from %s", registry.count, len(files), self.directory)
        await self._reloaded(registry, {"ok": True, "files": files, "entries": registry.count})
