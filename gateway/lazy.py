"""Names a package hands on, loaded from their modules on first use (PEP 562 `__getattr__`).

A package's own import then costs nothing: `import gateway.config` (every CLI command) does not
load the gateway, and `gateway.policy` or `gateway.witness` do not load their engines or httpx
until a name of theirs is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: each name in `homes` comes from its module,
    given relative to the package (`"engines"`) or whole (`"gateway.app"`)."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(home if home.startswith("gateway.") else f"{package}.{home}"), name)

    return __getattr__
