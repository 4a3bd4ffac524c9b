"""The aggregated catalogue: every exposed name maps to exactly one upstream name, and back.

Names are decided here once, when an upstream's listing is (re)loaded, so the per-call path is a
dictionary lookup. Tools and prompts are namespaced by name (`crm__create_customer`); resources
keep their URIs (URIs are already global) and a URI is routed to the upstream that listed it or
whose template matches it. A tool that its upstream offers only to clients of certain
capabilities carries a `Gate` (see `gateway.upstream.gates`), and is listed and resolved only for
clients whose declared capabilities meet it.

Each catalogue built is vetted by the gateway's `Pinning` (`gateway.guards.pins`), when it has
one: a tool whose definition changed since it was pinned is listed with its pinned definition and
resolves as held (`held`), until an operator accepts the change and the pool rebuilds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import mcp_types as types
from mcp.shared.uri_template import UriTemplate

from gateway.config import NamespaceConfig
from gateway.errors import CatalogError
from gateway.models import ToolRef
from gateway.upstream.gates import Capability, Gate

Kind = Literal["tool", "prompt"]


@dataclass(slots=True)
class UpstreamListing:
    """What one upstream offers, in its own names."""

    tools: list[types.Tool] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)
    resources: list[types.Resource] = field(default_factory=list)
    templates: list[types.ResourceTemplate] = field(default_factory=list)
    gates: dict[str, Gate] = field(default_factory=dict)
    """Tool name → what a client must declare to be offered it (absent: offered to every client)."""


class Pinning(Protocol):
    """Vets each listed tool against its pinned definition (`gateway.guards.pins.Pins`)."""

    def vet(self, server: str, tool: str, listed: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """None: list the tool as it is; else the tool is held, and this (its wire form) is listed."""
        ...


class Catalog:
    """Maps exposed names to upstream names for all upstreams at once (immutable once built)."""

    def __init__(
        self, namespace: NamespaceConfig, listings: Mapping[str, UpstreamListing], pinning: Pinning | None = None
    ) -> None:
        self._namespace = namespace
        self._listings = dict(listings)
        self._pinning = pinning
        self._shown: dict[str, types.Tool] = {}
        """Held tools (exposed name) → the pinned definition that `tools` lists instead."""
        self._tools: dict[str, tuple[ToolRef, types.Tool]] = {}
        self._gates: dict[str, Gate] = {}
        self._prompts: dict[str, ToolRef] = {}
        self._resources: dict[str, str] = {}
        self._templates: list[tuple[UriTemplate, str]] = []
        self._exposed_tool_names: dict[ToolRef, str] = {}
        for upstream, listing in self._listings.items():
            self._add(upstream, listing)
        if pinning is not None:  # after every name is claimed: a refused listing pins nothing
            for exposed, (ref, tool) in self._tools.items():
                listed = tool.model_dump(by_alias=True, mode="json", exclude_none=True)
                shown = pinning.vet(ref.upstream, ref.name, listed)
                if shown is not None:
                    self._shown[exposed] = types.Tool.model_validate(shown)

    def exposed(self, upstream: str, name: str) -> str:
        if self._namespace.mode == "none":
            return name
        return f"{upstream}{self._namespace.separator}{name}"

    def _add(self, upstream: str, listing: UpstreamListing) -> None:
        for tool in listing.tools:
            exposed = self._claim(self._tools, self.exposed(upstream, tool.name), upstream, "tool")
            ref = ToolRef(upstream, tool.name)
            self._tools[exposed] = (ref, tool)
            if (gate := listing.gates.get(tool.name)) is not None:
                self._gates[exposed] = gate
            self._exposed_tool_names[ref] = exposed
        for prompt in listing.prompts:
            exposed = self._claim(self._prompts, self.exposed(upstream, prompt.name), upstream, "prompt")
            self._prompts[exposed] = ToolRef(upstream, prompt.name)
        for resource in listing.resources:
            owner = self._resources.setdefault(str(resource.uri), upstream)
            if owner != upstream:
                raise CatalogError(f"resource {resource.uri!r} is offered by both {owner!r} and {upstream!r}")
        for template in listing.templates:
            self._templates.append((UriTemplate.parse(template.uri_template), upstream))

    def _claim(self, table: Mapping[str, object], exposed: str, upstream: str, kind: Kind) -> str:
        if exposed in table:
            other = table[exposed]
            owner = other[0].upstream if isinstance(other, tuple) else getattr(other, "upstream", "?")
            raise CatalogError(
                f"{kind} name {exposed!r} is offered by both upstream {owner!r} and {upstream!r}; "
                'set [namespace] mode = "prefix" or rename one of them'
            )
        return exposed

    def with_listing(self, upstream: str, listing: UpstreamListing) -> Catalog:
        """A new catalogue in which `upstream`'s listing is replaced."""
        return Catalog(self._namespace, {**self._listings, upstream: listing}, self._pinning)

    def revetted(self) -> Catalog:
        """The same listings vetted again (after an operator accepted a definition)."""
        return Catalog(self._namespace, self._listings, self._pinning)

    def held(self, exposed: str) -> bool:
        """Whether the tool's definition changed since it was pinned and is not accepted yet."""
        return exposed in self._shown

    def resolve_tool(
        self, exposed: str, capabilities: frozenset[Capability] | None = None
    ) -> tuple[ToolRef, types.Tool] | None:
        """The tool behind `exposed`, if it is offered to a client declaring `capabilities`
        (None: the gateway's own calls, offered every tool)."""
        if capabilities is not None and not self.offers(exposed, capabilities):
            return None
        return self._tools.get(exposed)

    def offers(self, exposed: str, capabilities: frozenset[Capability]) -> bool:
        gate = self._gates.get(exposed)
        return gate is None or gate.admits(capabilities)

    def resolve_prompt(self, exposed: str) -> ToolRef | None:
        return self._prompts.get(exposed)

    def resolve_uri(self, uri: str) -> str | None:
        """The upstream that serves `uri`: a listed resource first, then the first matching template."""
        if (owner := self._resources.get(uri)) is not None:
            return owner
        for template, upstream in self._templates:
            if template.match(uri) is not None:
                return upstream
        return None

    def only_upstream(self) -> str | None:
        return next(iter(self._listings)) if len(self._listings) == 1 else None

    def tools(self, capabilities: frozenset[Capability] | None = None) -> list[types.Tool]:
        """The tools offered to a client declaring `capabilities` (None: all of them)."""
        return [
            self._shown.get(exposed, tool).model_copy(update={"name": exposed})
            for exposed, (_, tool) in self._tools.items()
            if capabilities is None or self.offers(exposed, capabilities)
        ]

    def prompts(self) -> list[types.Prompt]:
        return [
            prompt.model_copy(update={"name": self.exposed(upstream, prompt.name)})
            for upstream, listing in self._listings.items()
            for prompt in listing.prompts
        ]

    def resources(self) -> list[types.Resource]:
        return [resource for listing in self._listings.values() for resource in listing.resources]

    def templates(self) -> list[types.ResourceTemplate]:
        return [template for listing in self._listings.values() for template in listing.templates]
