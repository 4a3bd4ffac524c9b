"""Reading manifest files: every error names the file and the line, at start and on reload.

YAML syntax errors carry their own position. A file that parses but does not validate gets the
line of the key pydantic names (`tools.3.reversibility`), found by walking the YAML node tree
that the same parse produced, so the operator can go straight to the line.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from gateway.errors import ManifestError
from gateway.manifests.schema import ManifestFile

__all__ = ["manifest_paths", "read_manifest_file"]


def manifest_paths(directory: Path) -> list[Path]:
    """Every `*.yaml`/`*.yml` file below `directory`, in the order their entries are read."""
    if not directory.is_dir():
        return []
    return sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")])


def read_manifest_file(path: Path) -> ManifestFile:
    """One manifest file, validated; ManifestError names `file:line` and the key otherwise."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text") from None
    try:
        node, data = _parse(text)
    except yaml.MarkedYAMLError as exc:
        line = f":{exc.problem_mark.line + 1}" if exc.problem_mark is not None else ""
        raise ManifestError(f"{path}{line}: not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:  # ReaderError (a control character) has a position, not a line
        raise ManifestError(f"{path}: not valid YAML: {exc}") from None
    try:
        return ManifestFile.model_validate(data if data is not None else {"tools": []})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{path}:{_line_of(node, err['loc'])}: {key + ': ' if key else ''}{message}")
        raise ManifestError("; ".join(problems)) from None


def _parse(text: str) -> tuple[yaml.Node | None, object]:
    """The node tree (for error lines) and the data built from it: one parse, as `yaml.safe_load`."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the deepest node along pydantic's error location."""
    if node is None:
        return 1
    line: int = node.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1
