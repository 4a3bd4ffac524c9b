from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest

from gateway.config import NamespaceConfig
from gateway.errors import CatalogError
from gateway.models import ToolRef
from gateway.upstream.catalog import Catalog, UpstreamListing


def tool(name: str) -> types.Tool:
    return types.Tool(name=name, input_schema={"type": "object"})


def listing(*tools: str, resources: tuple[str, ...] = (), templates: tuple[str, ...] = ()) -> UpstreamListing:
    return UpstreamListing(
        tools=[tool(name) for name in tools],
        prompts=[types.Prompt(name=f"{name}_prompt") for name in tools],
        resources=[types.Resource(uri=uri, name=uri) for uri in resources],
        templates=[types.ResourceTemplate(uri_template=t, name=t) for t in templates],
    )


def test_exposed_names_map_back_to_exactly_one_upstream_tool() -> None:
    catalog = Catalog(NamespaceConfig(), {"crm": listing("create"), "bank": listing("create")})
    assert sorted(t.name for t in catalog.tools()) == ["bank__create", "crm__create"]
    found = catalog.resolve_tool("crm__create")
    assert found is not None and found[0] == ToolRef("crm", "create")
    assert catalog.resolve_prompt("bank__create_prompt") == ToolRef("bank", "create_prompt")


@pytest.mark.parametrize(
    "spelling", ["create", "CRM__create", "crm__Create", "crm_create", "crm/create", " crm__create"]
)
def test_no_other_spelling_resolves(spelling: str) -> None:
    catalog = Catalog(NamespaceConfig(), {"crm": listing("create")})
    assert catalog.resolve_tool(spelling) is None


def test_a_collision_without_prefixes_is_an_error_naming_both_upstreams() -> None:
    with pytest.raises(CatalogError, match="'create' is offered by both upstream 'a' and 'b'"):
        Catalog(NamespaceConfig(mode="none"), {"a": listing("create"), "b": listing("create")})


def test_resources_route_by_uri_and_template() -> None:
    catalog = Catalog(
        NamespaceConfig(),
        {"docs": listing(resources=("docs://readme",), templates=("docs://page/{id}",)), "other": listing()},
    )
    assert catalog.resolve_uri("docs://readme") == "docs"
    assert catalog.resolve_uri("docs://page/7") == "docs"
    assert catalog.resolve_uri("else://x") is None


def test_replacing_one_listing_keeps_the_others() -> None:
    catalog = Catalog(NamespaceConfig(), {"a": listing("x"), "b": listing("y")})
    changed = catalog.with_listing("a", listing("x", "z"))
    assert sorted(t.name for t in changed.tools()) == ["a__x", "a__z", "b__y"]
    assert sorted(t.name for t in catalog.tools()) == ["a__x", "b__y"]


class HoldDescriptions:
    """A `Pinning` that holds every tool whose description is not "pinned"."""

    def __init__(self) -> None:
        self.vetted: list[tuple[str, str]] = []

    def vet(self, server: str, tool: str, listed: Any) -> dict[str, Any] | None:
        self.vetted.append((server, tool))
        return None if listed.get("description") == "pinned" else {**listed, "description": "pinned"}


def test_a_held_tool_is_listed_with_its_pinned_definition_and_resolves_as_held() -> None:
    pinning = HoldDescriptions()
    changed = UpstreamListing(tools=[types.Tool(name="t", description="new", input_schema={"type": "object"})])
    steady = UpstreamListing(tools=[types.Tool(name="s", description="pinned", input_schema={"type": "object"})])
    catalog = Catalog(NamespaceConfig(), {"crm": changed, "bank": steady}, pinning)
    assert {t.name: t.description for t in catalog.tools()} == {"crm__t": "pinned", "bank__s": "pinned"}
    assert catalog.held("crm__t") and not catalog.held("bank__s")
    found = catalog.resolve_tool("crm__t")
    assert found is not None and found[1].description == "new"  # what would run is the upstream's own
    assert catalog.with_listing("crm", steady).held("crm__s") is False
    assert sorted(set(pinning.vetted)) == [("bank", "s"), ("crm", "s"), ("crm", "t")]


def test_a_listing_refused_for_a_name_collision_pins_nothing() -> None:
    pinning = HoldDescriptions()
    with pytest.raises(CatalogError):
        Catalog(NamespaceConfig(mode="none"), {"a": listing("x"), "b": listing("x")}, pinning)
    assert pinning.vetted == []
