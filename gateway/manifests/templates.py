"""Manifest templates: data paths only, never code.

A template is a string with `{root.path.to.value}` placeholders. A string that is exactly one
placeholder renders to the value itself (a number stays a number); otherwise placeholders are
formatted into the string. Roots are fixed per field (`args`, `result`, `snapshot`, ...), checked
when the manifest is loaded; a path missing from the data at call time is a `TemplateError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from gateway.errors import TemplateError

_Values = TypeVar("_Values", bound=Mapping[str, Any])

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\}")


def paths_in(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def check_template_roots(values: _Values, roots: set[str]) -> _Values:
    """Raise ValueError (a pydantic validation error at load time) for a placeholder with a bad root."""
    for key, value in values.items():
        for template in _strings(value):
            for path in paths_in(template):
                root = path.split(".", 1)[0]
                if root not in roots:
                    raise ValueError(f"{key}: {{{path}}} must start with one of {sorted(roots)}")
    return values


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def lookup(data: Mapping[str, Any], path: str) -> Any:
    current: Any = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise TemplateError(f"template path {{{path}}} is missing from the call's data")
    return current


def render(value: Any, data: Mapping[str, Any]) -> Any:
    """Render every template inside `value` (strings, lists and objects) against `data`."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole:
            return lookup(data, whole.group(1))
        return _PLACEHOLDER.sub(lambda m: _text(lookup(data, m.group(1))), value)
    if isinstance(value, Mapping):
        return {key: render(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, data) for item in value]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
