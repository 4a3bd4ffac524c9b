"""A bounded hypothesis fuzz of the MCP endpoint on valid sessions: random JSON-RPC shapes,
nesting and headers never get a 500, and the ledger still verifies afterwards."""

from __future__ import annotations

import subprocess
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DEFAULT_POLICIES, PYTHON, ROOT, TOKEN
from tests.e2e.test_approvals import demo

pytestmark = [pytest.mark.e2e]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
methods = st.sampled_from(
    ["tools/call", "tools/list", "notifications/cancelled", "notifications/progress", "resources/read", "ping", None]
) | st.text(max_size=12)
tools = st.sampled_from(["demo__create_customer", "rollgate_rollback", "rollgate_plan", "rollgate_status", "nope"])


@st.composite
def messages(draw: Any) -> dict[str, Any]:
    message: dict[str, Any] = {}
    if draw(st.booleans()):
        message["jsonrpc"] = draw(st.sampled_from(["2.0", "2.0", "1.0", 2]))
    if draw(st.booleans()):
        message["id"] = draw(st.integers(-5, 5) | st.text(max_size=6) | st.none() | st.booleans())
    method = draw(methods)
    if method is not None:
        message["method"] = method
    params = draw(st.none() | json_values | st.fixed_dictionaries({"name": tools, "arguments": json_values}))
    if params is not None:
        message["params"] = params
    if draw(st.booleans()):
        message[draw(st.sampled_from(["result", "error"]))] = draw(json_values)
    return message


@pytest.fixture
def session(start_gateway: Any, tmp_path: Any) -> Any:
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES)
    http = httpx.Client(timeout=30)
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {TOKEN}"}
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}
    answer = http.post(
        gateway.url, headers=headers, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}
    )
    headers["mcp-session-id"] = answer.headers["mcp-session-id"]
    http.post(gateway.url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    yield gateway, http, headers
    http.close()
    config = next(tmp_path.glob("rollgate-*.toml"))  # whatever was sent, the record still verifies
    verify = [PYTHON, "-m", "gateway", "--config", str(config), "ledger", "verify"]
    done = subprocess.run(verify, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    message=messages() | st.lists(messages(), max_size=3),
    version=st.sampled_from([None, "2025-11-25", "2026-07-28", "bogus"]),
    event=st.sampled_from([None, "fp-1-²", "fp-x-1", "0", "fp-999999-3"]),
)
def test_no_request_shape_gets_a_500(session: Any, message: Any, version: str | None, event: str | None) -> None:
    gateway, http, headers = session
    sent = dict(headers)
    if version is not None:
        sent["mcp-protocol-version"] = version
    answer = http.post(gateway.url, headers=sent, json=message)
    assert answer.status_code < 500, (message, answer.text)
    if event is not None:
        resumed = http.get(gateway.url, headers={**sent, "Last-Event-ID": event.encode()}, timeout=2)
        assert resumed.status_code < 500


@pytest.mark.parametrize(
    "body",
    [
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__create_customer",'
        '"arguments":{"name":NaN,"email":Infinity}}}',
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":NaN}',
        '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rollgate_status","arguments":{"workflow_id":-Infinity}}}',
    ],
)
def test_non_finite_numbers_get_a_clear_error(session: Any, body: str) -> None:
    """NaN and Infinity are not JSON (RFC 8259) but parsers take them: the fuzz above sends only what
    httpx can write, so these are sent as raw bytes."""
    gateway, http, headers = session
    answer = http.post(gateway.url, headers={**headers, "content-type": "application/json"}, content=body)
    assert answer.status_code < 500, answer.text
    assert '"error"' in answer.text and "is not of type" in answer.text or answer.status_code == 400, answer.text
