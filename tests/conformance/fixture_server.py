"""The upstream of the conformance run: a streamable HTTP server with the tools, resources and
prompts that the MCP conformance suite's server scenarios call, written from the scenarios'
own "Server Implementation Requirements" texts with the SDK's low-level server. What it offers
only to stateless (2026-07-28) clients is in fixture_stateless.py.

    python tests/conformance/fixture_server.py --port 9100
    python tests/conformance/fixture_server.py --stdio    (the gateway's stdio upstream)
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import uvicorn
from fixture_stateless import (
    STATELESS_CALLS,
    STATELESS_PROMPTS,
    STATELESS_TOOLS,
    get_input_required_prompt,
    is_stateless,
)
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import ServerMessageMetadata
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from gateway.server.events import MemoryEventStore  # noqa: E402

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(
    name: str,
    description: str,
    properties: dict[str, Any] | None = None,
    required: list[str] | None = None,
    schema: dict[str, Any] | None = None,
) -> types.Tool:
    input_schema = schema or {"type": "object", "properties": properties or {}, "required": required or []}
    return types.Tool(name=name, description=description, input_schema=input_schema)


TOOLS = [
    tool("test_simple_text", "Returns simple text"),
    tool("test_image_content", "Returns an image"),
    tool("test_audio_content", "Returns audio"),
    tool("test_embedded_resource", "Returns an embedded resource"),
    tool("test_multiple_content_types", "Returns text, image and a resource"),
    tool("test_tool_with_logging", "Logs three messages while it runs"),
    tool("test_error_handling", "Always fails"),
    tool("test_tool_with_progress", "Reports progress 0, 50, 100"),
    tool("test_sampling", "Asks the client's model", {"prompt": {"type": "string"}}, ["prompt"]),
    tool("test_elicitation", "Asks the client's user", {"message": {"type": "string"}}, ["message"]),
    tool("test_elicitation_sep1034_defaults", "Elicitation with defaults"),
    tool("test_elicitation_sep1330_enums", "Elicitation with every enum form"),
    tool("test_reconnection", "Closes its SSE stream mid-call (SEP-1699)"),
    tool(
        "json_schema_2020_12_tool",
        "Tool with JSON Schema 2020-12 features",
        schema={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}
            },
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": False,
        },
    ),
]


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> Any:
    name, args = params.name, params.arguments or {}
    if is_stateless(ctx) and name in STATELESS_CALLS:
        return await STATELESS_CALLS[name](ctx, params)
    related = ServerMessageMetadata(related_request_id=ctx.request_id)
    if name == "test_simple_text":
        return {"content": [text("This is a simple text response for testing.")]}
    if name == "test_image_content":
        return {"content": [{"type": "image", "data": PNG, "mimeType": "image/png"}]}
    if name == "test_audio_content":
        return {"content": [{"type": "audio", "data": WAV, "mimeType": "audio/wav"}]}
    if name == "test_embedded_resource":
        return {
            "content": [
                {
                    "type": "resource",
                    "resource": {
                        "uri": "test://embedded-resource",
                        "mimeType": "text/plain",
                        "text": "This is an embedded resource content.",
                    },
                }
            ]
        }
    if name == "test_multiple_content_types":
        return {
            "content": [
                text("Multiple content types test:"),
                {"type": "image", "data": PNG, "mimeType": "image/png"},
                {
                    "type": "resource",
                    "resource": {
                        "uri": "test://mixed-content-resource",
                        "mimeType": "application/json",
                        "text": '{"test":"data","value":123}',
                    },
                },
            ]
        }
    if name == "test_tool_with_logging":
        for n, message in enumerate(("Tool execution started", "Tool processing data", "Tool execution completed")):
            if n:
                await anyio.sleep(0.05)
            await ctx.session.send_log_message("info", message, related_request_id=ctx.request_id)
        return {"content": [text("Logging test completed")]}
    if name == "test_error_handling":
        return {"content": [text("This tool intentionally returns an error for testing")], "isError": True}
    if name == "test_tool_with_progress":
        for n, value in enumerate((0, 50, 100)):
            if n:
                await anyio.sleep(0.05)
            await ctx.session.report_progress(value, 100)  # a no-op when the request carried no progressToken
        return {"content": [text("Progress test completed")]}
    if name == "test_sampling":
        request = types.CreateMessageRequest(
            params=types.CreateMessageRequestParams(
                messages=[
                    types.SamplingMessage(role="user", content=types.TextContent(type="text", text=args["prompt"]))
                ],
                max_tokens=100,
            )
        )
        answer = await ctx.session.send_request(request, types.CreateMessageResult, metadata=related)
        said = answer.content.text if isinstance(answer.content, types.TextContent) else str(answer.content)
        return {"content": [text(f"LLM response: {said}")]}
    if name.startswith("test_elicitation"):
        answer = await ctx.session.send_request(
            types.ElicitRequest(
                params=types.ElicitRequestFormParams(message=args.get("message", name), requested_schema=_schema(name))
            ),
            types.ElicitResult,
            metadata=related,
        )
        return {
            "content": [text(f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}")]
        }
    if name == "test_reconnection":
        await anyio.sleep(0.1)
        if ctx.close_sse_stream is not None:
            await ctx.close_sse_stream()
        await anyio.sleep(0.2)
        return {"content": [text("Reconnection test completed")]}
    if name == "json_schema_2020_12_tool":
        return {"content": [text(f"received {json.dumps(args)}")]}
    raise ValueError(f"unknown tool {name}")


def _schema(name: str) -> dict[str, Any]:
    if name == "test_elicitation_sep1034_defaults":
        return {
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "default": True},
            },
        }
    if name == "test_elicitation_sep1330_enums":
        return {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {
                    "type": "string",
                    "oneOf": [
                        {"const": "value1", "title": "First Option"},
                        {"const": "value2", "title": "Second Option"},
                    ],
                },
                "legacyEnum": {
                    "type": "string",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                        ]
                    },
                },
            },
        }
    return {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }


RESOURCES = [
    types.Resource(uri="test://static-text", name="static-text", description="Static text", mime_type="text/plain"),
    types.Resource(uri="test://static-binary", name="static-binary", description="Static PNG", mime_type="image/png"),
    types.Resource(uri="test://watched-resource", name="watched", description="Subscribable", mime_type="text/plain"),
]


async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> dict[str, Any]:
    uri = str(params.uri)
    if uri == "test://static-text":
        return {
            "contents": [
                {"uri": uri, "mimeType": "text/plain", "text": "This is the content of the static text resource."}
            ]
        }
    if uri == "test://static-binary":
        return {"contents": [{"uri": uri, "mimeType": "image/png", "blob": PNG}]}
    if uri == "test://watched-resource":
        return {"contents": [{"uri": uri, "mimeType": "text/plain", "text": "watched"}]}
    if uri.startswith("test://template/") and uri.endswith("/data"):
        ident = uri.removeprefix("test://template/").removesuffix("/data")
        body = json.dumps({"id": ident, "templateTest": True, "data": f"Data for ID: {ident}"}, separators=(",", ":"))
        return {"contents": [{"uri": uri, "mimeType": "application/json", "text": body}]}
    raise ValueError(f"unknown resource {uri}")


PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A simple prompt"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with arguments",
        arguments=[
            types.PromptArgument(name="arg1", description="First test argument", required=True),
            types.PromptArgument(name="arg2", description="Second test argument", required=True),
        ],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="Embeds a resource",
        arguments=[types.PromptArgument(name="resourceUri", description="URI to embed", required=True)],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
]


async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> Any:
    args = params.arguments or {}
    if is_stateless(ctx) and params.name == "test_input_required_result_prompt":
        return await get_input_required_prompt(ctx, params)
    if params.name == "test_simple_prompt":
        return {"messages": [{"role": "user", "content": text("This is a simple prompt for testing.")}]}
    if params.name == "test_prompt_with_arguments":
        said = f"Prompt with arguments: arg1='{args.get('arg1')}', arg2='{args.get('arg2')}'"
        return {"messages": [{"role": "user", "content": text(said)}]}
    if params.name == "test_prompt_with_embedded_resource":
        return {
            "messages": [
                {
                    "role": "user",
                    "content": {
                        "type": "resource",
                        "resource": {
                            "uri": args.get("resourceUri", "test://example-resource"),
                            "mimeType": "text/plain",
                            "text": "Embedded resource content for testing.",
                        },
                    },
                },
                {"role": "user", "content": text("Please process the embedded resource above.")},
            ]
        }
    if params.name == "test_prompt_with_image":
        return {
            "messages": [
                {"role": "user", "content": {"type": "image", "data": PNG, "mimeType": "image/png"}},
                {"role": "user", "content": text("Please analyze the image above.")},
            ]
        }
    raise ValueError(f"unknown prompt {params.name}")


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=(TOOLS + STATELESS_TOOLS) if is_stateless(ctx) else TOOLS)


async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=RESOURCES)


async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(
        resource_templates=[
            types.ResourceTemplate(
                uri_template="test://template/{id}/data",
                name="template",
                description="Templated data",
                mime_type="application/json",
            )
        ]
    )


async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=(PROMPTS + STATELESS_PROMPTS) if is_stateless(ctx) else PROMPTS)


async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
    values = [v for v in ("paris", "park", "party") if v.startswith(params.argument.value)]
    return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))


async def empty(ctx: Any, params: Any) -> types.EmptyResult:
    return types.EmptyResult()


def typed(handler: Any, model: Any) -> Any:
    """The handler's dict as the SDK's result model, which carries what each revision's wire
    requires (2026-07-28: `resultType`, and `ttlMs`/`cacheScope` on resources/read) and which the SDK
    leaves out on older wires; a bare dict fails the SDK's 2026-07-28 result check. A handler that
    already answers with a model (the stateless ones, which may ask for input instead) keeps it."""

    async def answer(ctx: Any, params: Any) -> Any:
        result = await handler(ctx, params)
        return result if isinstance(result, BaseModel) else model.model_validate(result)

    return answer


class _Fixture(Server[Any]):
    def create_initialization_options(self, notification_options: Any = None, *args: Any, **kwargs: Any) -> Any:
        return super().create_initialization_options(
            notification_options
            or NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True),
            *args,
            **kwargs,
        )


def build() -> Server[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _Fixture(
            "rollgate-conformance-fixture",
            version="1.0.0",
            on_list_tools=list_tools,
            on_call_tool=typed(call_tool, types.CallToolResult),
            on_list_resources=list_resources,
            on_list_resource_templates=list_templates,
            on_read_resource=typed(read_resource, types.ReadResourceResult),
            on_subscribe_resource=empty,
            on_unsubscribe_resource=empty,
            on_list_prompts=list_prompts,
            on_get_prompt=typed(get_prompt, types.GetPromptResult),
            on_completion=complete,
            on_set_logging_level=empty,
        )


async def serve_stdio() -> None:
    server = build()
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def main() -> None:
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int)
    where.add_argument("--stdio", action="store_true")
    args = parser.parse_args()
    if args.stdio:
        anyio.run(serve_stdio)
        return
    app = build().streamable_http_app(event_store=MemoryEventStore(1000), retry_interval=200, host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
