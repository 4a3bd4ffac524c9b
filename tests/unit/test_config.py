from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import hash_token, load_config
from gateway.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rollgate.toml"
    path.write_text(text)
    return path


def test_defaults_listen_on_loopback_and_fail_closed(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert (config.server.host, config.server.port, config.server.path) == ("127.0.0.1", 8765, "/mcp")
    assert config.auth.allow_anonymous is False
    assert config.state_dir == (tmp_path / ".rollgate").resolve()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = 70000\n", "server.port"),
        ('[server]\npath = "mcp"\n', "server.path"),
        ('[[upstreams]]\nname = "x"\n', "upstreams[0]"),
        ('[[upstreams]]\nname = "x"\ncommand = "a"\nurl = "http://b"\n', "upstreams[0]"),
        ('[[upstreams]]\nname = "bad name"\ncommand = "a"\n', "upstreams[0].name"),
        ('[[agents]]\nid = "a"\ntoken_sha256 = "short"\n', "agents[0].token_sha256"),
        ("[surprise]\nx = 1\n", "surprise"),
        ('[server]\nevent_loop = "trio"\n', "server.event_loop"),
        ('[ledger]\nread_only_intents = "later"\n', "ledger.read_only_intents"),
    ],
)
def test_every_error_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text))


def test_two_upstreams_with_one_name_are_refused(tmp_path: Path) -> None:
    text = '[[upstreams]]\nname = "x"\ncommand = "a"\n[[upstreams]]\nname = "x"\ncommand = "b"\n'
    with pytest.raises(ConfigError, match="used twice"):
        load_config(write(tmp_path, text))


def test_broken_toml_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server"))
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLGATE_SERVER__PORT", "9999")
    assert load_config(write(tmp_path, "[server]\nport = 1234\n")).server.port == 9999


def test_upstream_transport_follows_command_or_url(tmp_path: Path) -> None:
    text = '[[upstreams]]\nname = "a"\ncommand = "x"\ncwd = "sub"\n[[upstreams]]\nname = "b"\nurl = "http://127.0.0.1:1/mcp"\n'
    config = load_config(write(tmp_path, text))
    assert [u.kind for u in config.upstreams] == ["stdio", "streamable_http"]
    assert config.upstreams[0].cwd == str((tmp_path / "sub").resolve())


def test_tokens_are_stored_as_sha256() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_container_configuration_loads_and_names_what_the_image_holds(monkeypatch) -> None:
    """docker/rollgate.toml as the image uses it (no Docker engine here to build the image itself)."""
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("ROLLGATE_PATHS__STATE_DIR", "/var/lib/rollgate")
    monkeypatch.setenv("ROLLGATE_SERVER__HOST", "0.0.0.0")
    config = load_config(root / "docker" / "rollgate.toml")
    assert config.server.host == "0.0.0.0" and config.state_dir == Path("/var/lib/rollgate")
    assert (config.resolve(config.paths.policies) / "rollgate.rego").is_file()
    assert (config.resolve(config.paths.manifests) / "demo.yaml").is_file()
    assert config.upstreams[0].args[:2] == ["-m", "examples.demo_server"]
    dockerfile = (root / "docker" / "Dockerfile").read_text()
    for copied in ("gateway", "policies", "tool_manifests", "examples", "docker/rollgate.toml"):
        assert f"COPY {copied} " in dockerfile
