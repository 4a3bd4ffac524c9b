"""`rollgate init`: the starter files, their modes, the token kept out of them, no overwriting."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.config import hash_token, load_config
from gateway.defaults import default_policies
from gateway.manifests import ManifestFile, ManifestRegistry

TOKEN = re.compile(r"rg_[A-Za-z0-9_-]{32}")


def init(directory: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    status = main(["init", str(directory), *extra])
    out, err = capsys.readouterr()
    return status, out, err


def test_init_writes_a_configuration_that_validates_with_the_printed_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = init(tmp_path / "first", capsys)
    assert status == 0
    (token,) = set(TOKEN.findall(out))
    config = load_config(tmp_path / "first" / "rollgate.toml")
    assert [a.token_sha256 for a in config.agents] == [hash_token(token)]
    assert config.policies_dir == (tmp_path / "first" / "policies").resolve()
    assert config.state_dir == (tmp_path / "first" / ".rollgate").resolve()
    assert ManifestRegistry.load(config.resolve(config.paths.manifests)).count == 0
    config_path = tmp_path / "first" / "rollgate.toml"
    for command in ("serve", "ledger verify"):
        assert f"rollgate --config {config_path} {command}" in out
    assert "Authorization: Bearer" in out


def test_the_policy_copy_is_the_default_policy_and_files_have_their_modes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(tmp_path, capsys)
    copied = sorted(p.name for p in (tmp_path / "policies").iterdir())
    assert copied == sorted(p.name for p in default_policies().iterdir() if p.suffix in (".rego", ".json"))
    for name in copied:
        assert (tmp_path / "policies" / name).read_bytes() == (default_policies() / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "tool_manifests").iterdir()) == ["example.yaml", "schema.json"]
    assert stat.S_IMODE((tmp_path / "rollgate.toml").stat().st_mode) == 0o600
    for path in [*(tmp_path / "policies").iterdir(), *(tmp_path / "tool_manifests").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_the_clear_token_is_printed_once_and_written_to_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, err = init(tmp_path, capsys)
    (token,) = TOKEN.findall(out)
    assert token not in err
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_the_example_manifest_is_all_comment_and_validates_once_uncommented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    init(tmp_path, capsys)
    text = (tmp_path / "tool_manifests" / "example.yaml").read_text()
    assert all(line.startswith("#") for line in text.splitlines())
    lines = text.splitlines()
    body = "\n".join(line.removeprefix("# ") for line in lines[lines.index("# version: 1") :])
    parsed = ManifestFile.model_validate(yaml.safe_load(body))
    assert [t.tool for t in parsed.tools] == ["read_*", "write_file"]


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(tmp_path, capsys)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    status, out, err = init(tmp_path, capsys)
    assert status == 2 and not TOKEN.search(out)
    assert f"not overwriting {tmp_path / 'rollgate.toml'}" in err and "--force" in err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_one_edited_policy_file_stops_the_whole_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "rollgate.rego").write_text("package mine\n")
    status, _, err = init(tmp_path, capsys)
    assert status == 2 and str(tmp_path / "policies" / "rollgate.rego") in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["policies", "rollgate.rego"]


def test_force_overwrites_with_a_new_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init(tmp_path, capsys)
    (tmp_path / "rollgate.toml").chmod(0o644)
    (tmp_path / "policies" / "rollgate.rego").write_text("package mine\n")
    status, out, _ = init(tmp_path, capsys, "--force")
    assert status == 0
    (token,) = set(TOKEN.findall(out))
    assert load_config(tmp_path / "rollgate.toml").agents[0].token_sha256 == hash_token(token)
    assert stat.S_IMODE((tmp_path / "rollgate.toml").stat().st_mode) == 0o600
    assert (tmp_path / "policies" / "rollgate.rego").read_bytes() == (default_policies() / "rollgate.rego").read_bytes()
