"""Manifests are hot-reloaded: a valid edit replaces the registry, a broken one keeps the last good set."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest

from gateway.manifests import ManifestRegistry, ManifestWatch, Reversibility
from gateway.manifests.watch import fingerprint

pytestmark = pytest.mark.anyio


def manifest(reversibility: str) -> str:
    return f"version: 1\ntools:\n  - server: s\n    tool: t\n    reversibility: {reversibility}\n    impact: low\n"


class ReloadingGateway:
    """What the real gateway does with a reload: keep the registry, record the outcome."""

    def __init__(self, directory: Path) -> None:
        self.manifests = ManifestRegistry.load(directory)
        self.outcomes: list[dict[str, object]] = []
        self.changed = anyio.Event()

    async def reloaded(self, registry: ManifestRegistry | None, outcome: dict[str, object]) -> None:
        if registry is not None:
            self.manifests = registry
        self.outcomes.append(outcome)
        self.changed.set()

    def reversibility(self) -> Reversibility:
        return self.manifests.resolve("s", None, "t").manifest.reversibility

    async def next_reload(self) -> dict[str, object]:
        with anyio.fail_after(5):
            await self.changed.wait()
        self.changed = anyio.Event()
        return self.outcomes[-1]


async def test_a_valid_edit_is_taken_without_a_restart(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(manifest("read_only"))
    gateway = ReloadingGateway(tmp_path)
    watch = ManifestWatch(tmp_path, gateway.reloaded)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch.run, 0.01)
        (tmp_path / "m.yaml").write_text(manifest("irreversible"))
        outcome = await gateway.next_reload()
        tg.cancel_scope.cancel()
    assert gateway.reversibility() is Reversibility.IRREVERSIBLE
    assert outcome == {"ok": True, "files": fingerprint(tmp_path), "entries": 1}


async def test_a_broken_edit_keeps_the_last_good_set_and_logs_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "m.yaml").write_text(manifest("read_only"))
    gateway = ReloadingGateway(tmp_path)
    watch = ManifestWatch(tmp_path, gateway.reloaded)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch.run, 0.01)
        with caplog.at_level(logging.ERROR, logger="gateway.manifests.watch"):
            (tmp_path / "m.yaml").write_text(manifest("maybe"))
            refused = await gateway.next_reload()
        (tmp_path / "m.yaml").write_text(manifest("reversible"))
        fixed = await gateway.next_reload()
        tg.cancel_scope.cancel()
    assert refused["ok"] is False and f"{tmp_path / 'm.yaml'}:5: tools.0.reversibility" in str(refused["error"])
    assert any(f"{tmp_path / 'm.yaml'}:5: tools.0.reversibility" in r.getMessage() for r in caplog.records)
    assert fixed["ok"] is True
    assert gateway.reversibility() is Reversibility.REVERSIBLE


async def test_a_removed_file_and_a_new_directory_are_reloads_too(tmp_path: Path) -> None:
    directory = tmp_path / "manifests"
    gateway = ReloadingGateway(directory)
    watch = ManifestWatch(directory, gateway.reloaded)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch.run, 0.01)
        directory.mkdir()
        (directory / "m.yaml").write_text(manifest("read_only"))
        await gateway.next_reload()
        assert gateway.reversibility() is Reversibility.READ_ONLY
        (directory / "m.yaml").unlink()
        await gateway.next_reload()
        tg.cancel_scope.cancel()
    assert gateway.manifests.resolve("s", None, "t").source == "default"
