"""Which scenarios an upstream can be scored on: the suite's server scenarios call tools,
resources and prompts by the names its "Server Implementation Requirements" give (the names
fixture_server.py implements). An upstream that offers none by that name (server-everything names
its own) answers with an error, which some checks accept as a pass. The gateway answers an unknown
tool from its catalogue with -32602, so such a vacuous direct pass would read as a regression.

So before the suite runs, the upstream's own catalogue is listed, and a scenario whose named
feature the upstream does not offer is reported `n/a` for it, on every route. Nothing here is a list
of expected failures: the verdict comes from what the upstream offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

NEEDS: dict[str, tuple[str, str]] = {
    "tools-call-simple-text": ("tool", "test_simple_text"),
    "tools-call-image": ("tool", "test_image_content"),
    "tools-call-audio": ("tool", "test_audio_content"),
    "tools-call-embedded-resource": ("tool", "test_embedded_resource"),
    "tools-call-mixed-content": ("tool", "test_multiple_content_types"),
    "tools-call-with-logging": ("tool", "test_tool_with_logging"),
    "tools-call-error": ("tool", "test_error_handling"),
    "tools-call-with-progress": ("tool", "test_tool_with_progress"),
    "tools-call-sampling": ("tool", "test_sampling"),
    "tools-call-elicitation": ("tool", "test_elicitation"),
    "elicitation-sep1034-defaults": ("tool", "test_elicitation_sep1034_defaults"),
    "elicitation-sep1330-enums": ("tool", "test_elicitation_sep1330_enums"),
    "server-sse-polling": ("tool", "test_reconnection"),
    "json-schema-2020-12": ("tool", "json_schema_2020_12_tool"),
    "resources-read-text": ("resource", "test://static-text"),
    "resources-read-binary": ("resource", "test://static-binary"),
    "resources-templates-read": ("template", "test://template/{id}/data"),
    "prompts-get-simple": ("prompt", "test_simple_prompt"),
    "prompts-get-with-args": ("prompt", "test_prompt_with_arguments"),
    "prompts-get-embedded-resource": ("prompt", "test_prompt_with_embedded_resource"),
    "prompts-get-with-image": ("prompt", "test_prompt_with_image"),
}


@dataclass(frozen=True)
class Catalogue:
    offered: frozenset[tuple[str, str]]

    def lacks(self, scenario: str) -> str | None:
        """The feature the scenario needs and the upstream does not offer, e.g. "tool test_simple_text"."""
        need = NEEDS.get(scenario)
        return f"{need[0]} {need[1]}" if need is not None and need not in self.offered else None


async def _list(url: str) -> Catalogue:
    async with (
        httpx2.AsyncClient(timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        prompts = (await client.list_prompts()).prompts
    return Catalogue(
        frozenset(
            {("tool", t.name) for t in tools}
            | {("resource", str(r.uri)) for r in resources}
            | {("template", t.uri_template) for t in templates}
            | {("prompt", p.name) for p in prompts}
        )
    )


def catalogue(url: str) -> Catalogue:
    return anyio.run(_list, url)
