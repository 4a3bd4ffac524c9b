"""The default policy and JSON Schemas that ship with Rollgate, found with importlib.resources.

A wheel holds them as package data in `gateway/defaults/policies/` and
`gateway/defaults/tool_manifests/`, copied there at build time by `build_defaults.py` from the
repository's `policies/` and `tool_manifests/schema.json`, which stay the one source of truth (the
tests, the README and `rollgate policy schema` work on those). A source checkout or an editable
install has nothing built, so there the same files are read from the repository itself.

A configuration without `paths.policies` gets this policy, so a first run outside the checkout
decides calls by the documented matrix instead of denying every one for want of a policy.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from gateway.errors import ConfigError

__all__ = ["default_policies", "manifest_schema"]

_CHECKOUT = Path(__file__).resolve().parents[2]


def default_policies() -> Path:
    """The directory of the default policy: its Rego, `data.json`, Rego tests and schemas."""
    return _packaged("policies", "set paths.policies to a policy directory")


def manifest_schema() -> Path:
    """The JSON Schema of tool manifest files (`tool_manifests/schema.json`)."""
    return _packaged("tool_manifests", "`rollgate policy schema` writes it") / "schema.json"


def _packaged(folder: str, hint: str) -> Path:
    resource = files(__name__) / folder
    # PolicyBundle walks a real directory; a zipped install (zipimport) has none to give.
    if isinstance(resource, Path) and resource.is_dir():
        return resource
    checkout = _CHECKOUT / folder
    if (_CHECKOUT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    raise ConfigError(f"this installation of Rollgate lacks its packaged {folder}/ (zipped or incomplete): {hint}")
