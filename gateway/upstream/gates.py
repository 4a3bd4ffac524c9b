"""Capability gates: tools an upstream offers only to clients that declare certain capabilities.

A server may list a tool only to clients that declared roots, sampling or elicitation (the
reference server-everything registers `get-roots-list`, `trigger-sampling-request`, ... once it has
read the client's capabilities). The gateway's control link declares all three, so without gates
every such tool would be offered to every downstream client, and fail when one that declared none
calls it.

So each upstream's tools are listed once more by a client that declares nothing; only when that
listing lacks some tools is each capability tried alone, which says what each missing tool needs
(`gates_of`). A tool listed to no single capability needs all three. The catalogue then offers a
gated tool only to a downstream client whose declared capabilities meet its gate, and the
pipeline refuses a call to it from any other (see `Catalog.resolve_tool`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types as types

__all__ = ["ALL", "CAPABILITIES", "Capability", "Gate", "advertised", "declared", "gates_of", "probe_gates"]

Capability = Literal["roots", "sampling", "elicitation"]
CAPABILITIES: tuple[Capability, ...] = ("roots", "sampling", "elicitation")
ALL: frozenset[Capability] = frozenset(CAPABILITIES)

Lister = Callable[[frozenset[Capability]], Awaitable[set[str]]]
"""The names of the tools an upstream lists to a client declaring exactly these capabilities."""


@dataclass(frozen=True, slots=True)
class Gate:
    """What a client must declare to be offered a tool: all of one of these sets."""

    any_of: tuple[frozenset[Capability], ...]

    def admits(self, capabilities: frozenset[Capability]) -> bool:
        return any(needed <= capabilities for needed in self.any_of)


def declared(capabilities: types.ClientCapabilities | None) -> frozenset[Capability]:
    """The gate-relevant capabilities a client declared."""
    if capabilities is None:
        return frozenset()
    return frozenset(name for name in CAPABILITIES if getattr(capabilities, name, None) is not None)


def advertised(capabilities: frozenset[Capability]) -> dict[str, Any]:
    """The wire form of `capabilities` as this gateway declares them upstream (what the SDK's
    client declares when it has the matching callback)."""
    wire: dict[str, Any] = {}
    if "roots" in capabilities:
        wire["roots"] = {"listChanged": True}
    if "sampling" in capabilities:
        wire["sampling"] = {}
    if "elicitation" in capabilities:
        wire["elicitation"] = {"form": {}, "url": {}}
    return wire


def gates_of(full: Iterable[str], bare: Iterable[str], alone: Mapping[Capability, Iterable[str]]) -> dict[str, Gate]:
    """Gates for the tools in `full` (listed with every capability) missing from `bare` (listed
    with none), from the listings with each capability alone."""
    seen = {capability: set(names) for capability, names in alone.items()}
    gates: dict[str, Gate] = {}
    for name in set(full) - set(bare):
        singles = tuple(frozenset({c}) for c in CAPABILITIES if name in seen.get(c, set()))
        gates[name] = Gate(singles or (ALL,))
    return gates


async def probe_gates(full: Iterable[str], list_with: Lister) -> dict[str, Gate]:
    """List the upstream's tools without capabilities, and, if some are missing, with all and with
    each alone. A tool the probe does not list even with all capabilities is one it knows nothing
    of (a tool added at run time to the process the probe did not talk to): it stays ungated."""
    names = set(full)
    bare = await list_with(frozenset())
    if names <= bare:
        return {}
    names &= await list_with(ALL)
    if names <= bare:
        return {}
    alone = {capability: await list_with(frozenset({capability})) for capability in CAPABILITIES}
    return gates_of(names, bare, alone)
