"""Manifest file errors name the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import ManifestError
from gateway.manifests.files import manifest_paths, read_manifest_file

GOOD = "version: 1\ntools:\n  - server: s\n    tool: a\n    reversibility: read_only\n    impact: low\n"


def refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as refused:
        read_manifest_file(path)
    return str(refused.value)


def test_a_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD + "  - server: s\n    tool: [b\n")
    assert message.startswith(f"{tmp_path / 'm.yaml'}:") and "not valid YAML" in message
    line = int(message.split(":")[1])
    assert line >= 8


def test_an_invalid_value_names_the_line_of_its_key(tmp_path: Path) -> None:
    message = refusal(tmp_path, GOOD + "  - server: s\n    tool: b\n    reversibility: maybe\n    impact: low\n")
    assert message.startswith(f"{tmp_path / 'm.yaml'}:9: tools.1.reversibility: ")


def test_an_unknown_key_and_a_missing_one_are_each_named_with_a_line(tmp_path: Path) -> None:
    message = refusal(tmp_path, "version: 1\ntools:\n  - tool: a\n    impact: low\n    colour: red\n")
    assert f"{tmp_path / 'm.yaml'}:3: tools.0.reversibility: Field required" in message
    assert f"{tmp_path / 'm.yaml'}:5: tools.0.colour: " in message


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest_file(tmp_path / "m.yaml")


def test_an_empty_or_comment_only_file_declares_no_tools(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("# version: 1\n")
    assert read_manifest_file(tmp_path / "m.yaml").tools == []


def test_only_yaml_files_below_the_directory_are_manifests(tmp_path: Path) -> None:
    for name in ("b.yaml", "a/c.yml", "notes.txt", "schema.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in manifest_paths(tmp_path)] == ["a/c.yml", "b.yaml"]
    assert manifest_paths(tmp_path / "missing") == []


@given(st.text(max_size=200))
def test_any_text_either_validates_or_is_a_manifest_error_with_a_line(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("m") / "m.yaml"
    path.write_text(text)
    try:
        read_manifest_file(path)
    except ManifestError as exc:
        assert str(exc).startswith(str(path))
