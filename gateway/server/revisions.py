"""An upstream's raw result shaped for the revision the downstream client speaks.

The SDK's server checks every result of a spec method against the client's revision and keeps
only the fields that revision knows (`mcp.server.runner`, `serialize_server_result`). A result
that lacks a field the revision requires does not fail that check where the method's result is a
union with `InputRequiredResult`: it is read as the smaller member, and everything else is
dropped. A 2026-07-28 client then got `{"resultType": "complete"}` for a `resources/read` of a
handshake-era upstream (which sends no `ttlMs`/`cacheScope`). So the gateway fills what the
target revision requires before that check, and passes through whatever the upstream set.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, get_args

from mcp_types.methods import SERVER_RESULTS, is_input_required
from mcp_types.version import LATEST_MODERN_VERSION, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

__all__ = ["UNCACHED", "for_revision"]

UNCACHED: Mapping[str, Any] = {"ttlMs": 0, "cacheScope": "private"}
"""The caching fields (2026-07-28 basic/utilities/caching) for a result whose upstream gave
none: immediately stale and never shared, which is what a handshake-era result always meant."""


@cache
def _required_fields(method: str, version: str) -> frozenset[str]:
    """Wire fields the revision requires of the complete (non input_required) result of `method`."""
    row = SERVER_RESULTS.get((method, version))
    members = get_args(row) or (row,)
    required: set[str] = set()
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel) and member.__name__ != "InputRequiredResult":
            required |= {field.alias or name for name, field in member.model_fields.items() if field.is_required()}
    return frozenset(required)


def for_revision(method: str, version: str | None, result: Mapping[str, Any]) -> dict[str, Any]:
    """`result` with what `version` requires of it filled in; unchanged before 2026-07-28 (the
    SDK's check leaves out the later-revision fields there)."""
    out = dict(result)
    if version not in MODERN_PROTOCOL_VERSIONS:
        return out
    out.setdefault("resultType", "complete")
    if is_input_required(out):
        return out
    required = _required_fields(method, version or LATEST_MODERN_VERSION)
    for key, value in UNCACHED.items():
        if key in required:
            out.setdefault(key, value)
    return out
