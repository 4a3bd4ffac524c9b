"""The command line's choice of event loop (`server.event_loop`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gateway.cli.serve import loop_options as _loop_options
from gateway.config import Config, load_config
from gateway.errors import ConfigError


def config_with(tmp_path: Path, event_loop: str | None) -> Config:
    path = tmp_path / "rollgate.toml"
    path.write_text(f'[server]\nevent_loop = "{event_loop}"\n' if event_loop else "")
    return load_config(path)


def test_auto_runs_on_uvloop_where_it_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    assert _loop_options(config_with(tmp_path, None)) == {"use_uvloop": True}


def test_asyncio_runs_on_the_standard_loop(tmp_path: Path) -> None:
    assert _loop_options(config_with(tmp_path, "asyncio")) == {}


def test_auto_falls_back_to_asyncio_and_uvloop_is_refused_without_uvloop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert _loop_options(config_with(tmp_path, "auto")) == {}
    with pytest.raises(ConfigError, match="server.event_loop"):
        _loop_options(config_with(tmp_path, "uvloop"))
