"""Tool-definition pinning: a server cannot quietly change what one of its tools says it does.

The first time the gateway sees an upstream tool it pins the tool's definition (trust on first
use): its `title`, `description`, `inputSchema`, `outputSchema` and `annotations`, the parts an
agent reads to decide what to call and a policy reads to decide what to allow, digested as
RFC 8785 canonical JSON under SHA-256. Each later listing of that upstream (start-up, a
`list_changed`, a reconnect) is vetted against the pins: a tool whose definition has another digest
is HELD, and stays held until an operator accepts the new definition (`accept`), whatever the
upstream does meanwhile (a tool removed and listed again later is vetted against its old pin).

While a tool is held:
- its calls carry `input.tool.definition_changed = true`, and the default policy denies them,
  telling the agent that an operator must accept the change;
- `tools/list` shows agents the PINNED definition, not the new one: a changed description is
  exactly what a tool-poisoning server sends to steer an agent, so no agent reads it before a
  person has (and a changed `readOnlyHint` would otherwise change what the annotations fallback
  of the manifests lets run).
If the upstream goes back to the pinned definition, the hold lifts by itself: what runs is again
what was accepted.

The first notice of each new definition is ledgered (`tool.definition_changed`, with what changed),
as is each acceptance and by whom. Pins live in the guard state store, so they survive restarts:
a definition changed while the gateway was down is held when it comes back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import rfc8785
from pydantic import BaseModel, ConfigDict

from gateway.clock import SYSTEM, Clock
from gateway.errors import NotHeldError, StaleDefinitionError
from gateway.ledger.entry import jsonable
from gateway.ledger.events import LedgerEvent, ToolDefinitionAccepted, ToolDefinitionChanged
from gateway.store.guard_state import GuardStateStore

KIND = "pin"
FIELDS = ("title", "description", "inputSchema", "outputSchema", "annotations")
"""What is pinned of a tool definition, by its wire names (MCP 2025-11-25, server/tools, `Tool`)."""
MAX_CHANGES = 20
"""The diff summary names at most this many paths."""

Notice = Callable[[LedgerEvent], None]
"""Where the pins report what they noticed; vetting runs inside a synchronous catalogue rebuild."""


def definition_of(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The pinned part of a tool in its wire form (`Tool.model_dump(by_alias=True)`): absent and
    null fields are left out, so a server that starts sending `"title": null` changes nothing."""
    return {name: tool[name] for name in FIELDS if tool.get(name) is not None}


def digest(definition: Mapping[str, Any]) -> str:
    """`sha256:` and the hex SHA-256 of the definition's RFC 8785 canonical JSON."""
    return "sha256:" + hashlib.sha256(rfc8785.dumps(jsonable(dict(definition)))).hexdigest()


def changes(old: Any, new: Any, path: str = "") -> list[str]:
    """What differs between two definitions, as paths (`description changed`, `inputSchema.
    properties.to added`), at most `MAX_CHANGES` of them."""
    found: list[str] = []
    _diff(old, new, path, found)
    return found[:MAX_CHANGES] + ([f"and {len(found) - MAX_CHANGES} more"] if len(found) > MAX_CHANGES else [])


def _diff(old: Any, new: Any, path: str, found: list[str]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                found.append(f"{where} added")
            elif key not in new:
                found.append(f"{where} removed")
            else:
                _diff(old[key], new[key], where, found)
    elif old != new or type(old) is not type(new):
        found.append(f"{path or 'definition'} changed")


class HeldChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    digest: str
    definition: dict[str, Any]
    noticed_at: str
    changes: list[str]


class Pin(BaseModel):
    """A tool's pinned definition, and the change held for an operator, if any."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server: str
    tool: str
    digest: str
    definition: dict[str, Any]
    pinned_at: str
    accepted_by: str | None = None
    """The operator who accepted this definition (None: pinned on first sight)."""
    held: HeldChange | None = None

    @property
    def qualified(self) -> str:
        return f"{self.server}/{self.tool}"


class HeldTool(BaseModel):
    """A held tool as operators see it (`GET /api/tools/changed`, `rollgate tools changed`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str
    pinned_digest: str
    digest: str
    noticed_at: str
    changes: list[str]
    pinned: dict[str, Any]
    current: dict[str, Any]


class PinsState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    pinned: int
    held: list[HeldTool]


class Pins:
    def __init__(self, store: GuardStateStore, notice: Notice | None = None, clock: Clock = SYSTEM) -> None:
        self._store = store
        self._notice = notice
        self._clock = clock
        self._pins = {key: Pin.model_validate_json(document) for key, document in store.load(KIND).items()}

    def vet(self, server: str, tool: str, listed: Mapping[str, Any]) -> dict[str, Any] | None:
        """One listed tool (its wire form) against its pin: None if it may be shown as listed (it
        is the pinned definition, or it is new and pinned now), else the tool to list instead (the
        tool is held): as listed, with the pinned definition's fields in place of the new ones."""
        definition = definition_of(listed)
        seen = digest(definition)
        key = f"{server}/{tool}"
        pin = self._pins.get(key)
        if pin is None:
            now = self._clock.now().isoformat()
            self._put(Pin(server=server, tool=tool, digest=seen, definition=definition, pinned_at=now))
            return None
        if seen == pin.digest:
            if pin.held is not None:  # the upstream went back to what was accepted
                self._put(pin.model_copy(update={"held": None}))
            return None
        if pin.held is None or pin.held.digest != seen:
            now = self._clock.now().isoformat()
            held = HeldChange(
                digest=seen, definition=definition, noticed_at=now, changes=changes(pin.definition, definition)
            )
            self._put(pin.model_copy(update={"held": held}))
            if self._notice is not None:
                self._notice(
                    ToolDefinitionChanged(tool=key, pinned_digest=pin.digest, digest=seen, changes=held.changes)
                )
        return {**{k: v for k, v in listed.items() if k not in FIELDS}, **pin.definition}

    def held(self, server: str, tool: str) -> bool:
        pin = self._pins.get(f"{server}/{tool}")
        return pin is not None and pin.held is not None

    def accept(self, server: str, tool: str, by: str, expected: str | None = None) -> ToolDefinitionAccepted:
        """Pin the held definition of `server/tool` as accepted by `by`: NotHeldError if none is
        held; StaleDefinitionError if `expected` (the digest the operator reviewed) is not the
        one held (the upstream changed it again since). The event to record is returned."""
        key = f"{server}/{tool}"
        pin = self._pins.get(key)
        if pin is None or pin.held is None:
            raise NotHeldError(f"tool {key!r} has no changed definition waiting to be accepted")
        held = pin.held
        if expected is not None and expected != held.digest:
            raise StaleDefinitionError(
                f"tool {key!r}'s held definition is {held.digest}, not {expected}: review it again"
            )
        now = self._clock.now().isoformat()
        self._put(
            Pin(server=server, tool=tool, digest=held.digest, definition=held.definition, pinned_at=now, accepted_by=by)
        )
        return ToolDefinitionAccepted(tool=key, by=by, digest=held.digest, previous_digest=pin.digest)

    def state(self) -> PinsState:
        held = [
            HeldTool(
                tool=pin.qualified,
                pinned_digest=pin.digest,
                digest=pin.held.digest,
                noticed_at=pin.held.noticed_at,
                changes=pin.held.changes,
                pinned=pin.definition,
                current=pin.held.definition,
            )
            for pin in sorted(self._pins.values(), key=lambda p: p.qualified)
            if pin.held is not None
        ]
        return PinsState(pinned=len(self._pins), held=held)

    def _put(self, pin: Pin) -> None:
        self._pins[pin.qualified] = pin
        self._store.save(KIND, pin.qualified, pin.model_dump_json())
