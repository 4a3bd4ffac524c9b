"""The default policy and schemas shipped in the package, and the configuration that falls back to them."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import gateway.defaults as defaults
from gateway.config import load_config
from gateway.defaults import default_policies, manifest_schema
from gateway.errors import ConfigError
from gateway.policy import PolicyService, RegorusEngine
from gateway.policy.testing import run_tests

ROOT = Path(__file__).resolve().parents[2]
QUERY = "data.rollgate.policy.decision"


def test_a_configuration_without_paths_policies_decides_by_the_packaged_default_policy(tmp_path: Path) -> None:
    (tmp_path / "rollgate.toml").write_text("[server]\nport = 9000\n")
    config = load_config(tmp_path / "rollgate.toml")
    assert config.paths.policies is None
    assert config.policies_dir == default_policies()
    service = PolicyService(RegorusEngine(QUERY), config.policies_dir, QUERY)
    anyio.run(service.load)
    assert service.loaded is not None and service.last_error is None
    assert sorted(service.loaded.modules) == ["rollgate.rego", "rollgate_test.rego"]


def test_a_configured_policy_directory_is_still_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "rollgate.toml").write_text('[paths]\npolicies = "mine"\n')
    assert load_config(tmp_path / "rollgate.toml").policies_dir == (tmp_path / "mine").resolve()


def test_the_default_policy_is_the_repositorys_and_passes_its_own_rego_tests() -> None:
    for name in ("rollgate.rego", "rollgate_test.rego", "data.json", "input.schema.json", "decision.schema.json"):
        assert (default_policies() / name).read_bytes() == (ROOT / "policies" / name).read_bytes()
    assert manifest_schema().read_bytes() == (ROOT / "tool_manifests" / "schema.json").read_bytes()
    report = run_tests(default_policies())
    assert report.outcomes and report.failed == 0


def test_package_data_wins_over_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed wheel has the files in gateway/defaults/; they, not any repository, are used."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "tool_manifests").mkdir()
    monkeypatch.setattr(defaults, "files", lambda name: tmp_path)
    assert default_policies() == tmp_path / "policies"
    assert manifest_schema() == tmp_path / "tool_manifests" / "schema.json"


def test_an_installation_without_its_defaults_is_a_config_error_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "files", lambda name: tmp_path / "empty")
    monkeypatch.setattr(defaults, "_CHECKOUT", tmp_path)
    with pytest.raises(ConfigError, match=r"packaged policies/.*set paths\.policies"):
        default_policies()
