"""The fixture's tools and prompt for stateless (2026-07-28) clients only, as the conformance
repository's reference everything-server offers them on its stateless path and nowhere else: the
diagnostic tools of the `server-stateless` scenario (SEP-2575) and the multi-round-trip tools and
prompt of the `input-required-result-*` scenarios (SEP-2322), written from those scenarios'
"Server Implementation Requirements".

fixture_server.py lists and serves these only when the request's revision is a modern one, so a
2025-era client, which has no `inputResponses` to answer them with, never sees them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

# The gateway may start a stdio upstream per downstream session, so one round's requestState can
# come back to another fixture process: the key is fixed, not per process. It protects the state
# from the client (SEP-2322: servers treat the echoed state as attacker-controlled), which is all a
# test fixture needs.
_STATE_KEY = b"rollgate-conformance-fixture-request-state"

Answer = types.CallToolResult | types.GetPromptResult | types.InputRequiredResult


def is_stateless(ctx: Any) -> bool:
    """Whether the request is at a stateless revision (no handshake, per-request `_meta`)."""
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _tool(name: str, description: str) -> types.Tool:
    return types.Tool(name=name, description=description, input_schema={"type": "object", "properties": {}})


STATELESS_TOOLS = [
    _tool("test_missing_capability", "Needs the client's sampling capability; -32021 without it"),
    _tool("test_input_required_result_elicitation", "Asks for a name through an elicitation input request"),
    _tool("test_input_required_result_sampling", "Asks the client's model through a sampling input request"),
    _tool("test_input_required_result_list_roots", "Asks for the client's roots through an input request"),
    _tool("test_input_required_result_request_state", "Round-trips an opaque requestState"),
    _tool("test_input_required_result_multiple_inputs", "Asks for elicitation, sampling and roots at once"),
    _tool("test_input_required_result_multi_round", "Asks twice, with a new requestState each round"),
    _tool("test_input_required_result_tampered_state", "Rejects a requestState that fails its integrity check"),
    _tool("test_input_required_result_capabilities", "Asks only for what the client declared it can answer"),
    _tool("test_streaming_elicitation", "Streams its response: notifications only, never a request"),
    _tool("test_logging_tool", "Logs only when the request set a log level"),
]

STATELESS_PROMPTS = [
    types.Prompt(name="test_input_required_result_prompt", description="Asks for context before it renders"),
]


def _text(value: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=value)])


def _seal(state: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps({**state, "nonce": secrets.token_hex(8)}).encode()).decode()
    return f"{body}.{hmac.new(_STATE_KEY, body.encode(), hashlib.sha256).hexdigest()}"


def _unseal(token: str | None) -> dict[str, Any] | None:
    """The state this fixture sealed, None when there is none; -32602 when it was altered."""
    if token is None:
        return None
    body, _, tag = token.partition(".")
    expected = hmac.new(_STATE_KEY, body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(tag, expected):
        raise MCPError(code=types.INVALID_PARAMS, message="requestState integrity check failed")
    return json.loads(base64.urlsafe_b64decode(body))


def _ask(requests: dict[str, types.InputRequest], state: dict[str, Any] | None = None) -> types.InputRequiredResult:
    return types.InputRequiredResult(input_requests=requests, request_state=_seal(state) if state else None)


def _elicit(message: str, field: str, kind: str = "string") -> types.ElicitRequest:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(prompt: str, max_tokens: int) -> types.CreateMessageRequest:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))
    params = types.CreateMessageRequestParams(messages=[message], max_tokens=max_tokens)
    return types.CreateMessageRequest(params=params)


def _roots() -> types.ListRootsRequest:
    return types.ListRootsRequest(params=types.RequestParams())


def _answers(params: types.CallToolRequestParams | types.GetPromptRequestParams) -> Mapping[str, Any]:
    return params.input_responses or {}


def _field(answer: Any, name: str) -> str:
    content = getattr(answer, "content", None)
    if isinstance(content, dict) and name in content:
        return str(content[name])
    return str(getattr(content, "text", "unknown"))


async def _missing_capability(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    capabilities = ctx.session.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        raise MCPError(
            code=types.MISSING_REQUIRED_CLIENT_CAPABILITY,
            message="test_missing_capability needs the client's sampling capability",
            data={"requiredCapabilities": {"sampling": {}}},
        )
    return _text("Success")


async def _elicitation(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    if (answer := _answers(params).get("user_name")) is not None:
        return _text(f"Hello, {_field(answer, 'name')}!")
    # Missing or wrongly keyed answers are asked for again, not refused (SEP-2322).
    return _ask({"user_name": _elicit("What is your name?", "name")})


async def _sampling(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    if (answer := _answers(params).get("capital_question")) is not None:
        return _text(f"Sampling result: {_field(answer, 'text')}")
    return _ask({"capital_question": _sample("What is the capital of France?", 100)})


async def _list_roots(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    if (answer := _answers(params).get("client_roots")) is not None:
        return _text(f"Found {len(getattr(answer, 'roots', []))} root(s)")
    return _ask({"client_roots": _roots()})


async def _request_state(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    state = _unseal(params.request_state)
    if state is not None and state.get("kind") == "request-state" and "confirm" in _answers(params):
        return _text("state-ok: requestState validated")
    return _ask({"confirm": _elicit("Please confirm", "ok", "boolean")}, {"kind": "request-state"})


async def _multiple_inputs(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    answers = _answers(params)
    state = _unseal(params.request_state)
    if state is not None and {"user_name", "greeting", "client_roots"} <= answers.keys():
        roots = len(getattr(answers["client_roots"], "roots", []))
        said = f"Name: {_field(answers['user_name'], 'name')}; Greeting: {_field(answers['greeting'], 'text')}"
        return _text(f"{said}; Roots: {roots}")
    requests: dict[str, types.InputRequest] = {
        "user_name": _elicit("What is your name?", "name"),
        "greeting": _sample("Generate a greeting", 50),
        "client_roots": _roots(),
    }
    return _ask(requests, {"kind": "multiple-inputs"})


async def _multi_round(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    answers = _answers(params)
    state = _unseal(params.request_state) or {}
    if state.get("round") == 1 and "step1" in answers:
        name = _field(answers["step1"], "name")
        return _ask({"step2": _elicit("Step 2: What is your favorite color?", "color")}, {"round": 2, "name": name})
    if state.get("round") == 2 and "step2" in answers:
        return _text(f"Multi-round complete for {state.get('name')} who likes {_field(answers['step2'], 'color')}")
    return _ask({"step1": _elicit("Step 1: What is your name?", "name")}, {"round": 1})


async def _tampered_state(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    state = _unseal(params.request_state)
    if state is not None and state.get("kind") == "tamper-test" and "confirm" in _answers(params):
        return _text("integrity-ok: state verified")
    return _ask({"confirm": _elicit("Please confirm", "ok", "boolean")}, {"kind": "tamper-test"})


async def _capabilities(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    if answers := _answers(params):
        return _text(f"capabilities-ok: received {','.join(sorted(answers))}")
    declared = ctx.session.client_capabilities or types.ClientCapabilities()
    requests: dict[str, types.InputRequest] = {}
    if declared.elicitation is not None:
        requests["elicit_input"] = _elicit("Elicitation input", "value")
    if declared.sampling is not None:
        requests["sample_input"] = _sample("Sample request", 50)
    if not requests:
        return _text("No supported capabilities declared")
    return _ask(requests, {"kind": "capabilities-test"})


async def _streaming(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    await ctx.session.report_progress(50, 100)  # a no-op when the request carried no progressToken
    return _text("Streaming complete")


async def _logging(ctx: Any, params: types.CallToolRequestParams) -> Answer:
    # The SDK sends this only when the request's _meta set io.modelcontextprotocol/logLevel
    # (2026-07-28 basic/utilities/logging), which is the rule server-stateless checks.
    await ctx.session.send_log_message("info", "Diagnostic trace logging activated", related_request_id=ctx.request_id)
    return _text("Logging evaluated")


STATELESS_CALLS: dict[str, Callable[[Any, types.CallToolRequestParams], Awaitable[Answer]]] = {
    "test_missing_capability": _missing_capability,
    "test_input_required_result_elicitation": _elicitation,
    "test_input_required_result_sampling": _sampling,
    "test_input_required_result_list_roots": _list_roots,
    "test_input_required_result_request_state": _request_state,
    "test_input_required_result_multiple_inputs": _multiple_inputs,
    "test_input_required_result_multi_round": _multi_round,
    "test_input_required_result_tampered_state": _tampered_state,
    "test_input_required_result_capabilities": _capabilities,
    "test_streaming_elicitation": _streaming,
    "test_logging_tool": _logging,
}


async def get_input_required_prompt(ctx: Any, params: types.GetPromptRequestParams) -> Answer:
    if (answer := _answers(params).get("user_context")) is not None:
        said = types.TextContent(type="text", text=f"Prompt with context: {_field(answer, 'context')}")
        return types.GetPromptResult(messages=[types.PromptMessage(role="user", content=said)])
    return _ask({"user_context": _elicit("What context should the prompt use?", "context")})
