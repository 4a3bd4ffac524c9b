"""How a raw tools/call becomes a call: its workflow, and the bounds on its shape."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import LimitError
from gateway.models import Principal
from gateway.server.calls import build_call, depth

AGENT = Principal("a")


class _Links:
    capabilities: frozenset[str] | None = None

    async def get(self, upstream: str) -> Any:
        raise AssertionError


def call(params: dict[str, Any], session: str | None = None, **kwargs: Any) -> Any:
    return build_call(params, AGENT, _Links(), None, session, **kwargs)  # type: ignore[arg-type]


def test_the_workflow_is_meta_then_header_then_session_then_the_principals_current_one() -> None:
    current = lambda: "wf_current"  # noqa: E731
    assert (
        call({"name": "t", "_meta": {"rollgate/workflow": "wf_m"}}, "sid", default_workflow=current).context.workflow_id
        == "wf_m"
    )
    assert call({"name": "t"}, "sid", header_workflow="wf_h", default_workflow=current).context.workflow_id == "wf_h"
    assert call({"name": "t"}, "sid", default_workflow=current).context.workflow_id == "sid"
    assert call({"name": "t"}, None, default_workflow=current).context.workflow_id == "wf_current"


def test_deeply_nested_arguments_are_a_clear_error_not_a_crash() -> None:
    nested: Any = 1
    for _ in range(10_000):
        nested = [nested]
    with pytest.raises(LimitError, match="max_json_depth"):
        call({"name": "t", "arguments": {"x": nested}})
    assert depth({"a": [{"b": 1}]}, 64) == 3


def test_a_call_carries_what_its_sessions_client_declared() -> None:
    links = _Links()
    links.capabilities = frozenset({"sampling"})
    built = build_call({"name": "t", "arguments": {}}, AGENT, links, None, "s")  # type: ignore[arg-type]
    assert built.capabilities == frozenset({"sampling"})
    assert call({"name": "t", "arguments": {}}).capabilities is None  # the gateway's own links: every tool


def test_trace_headers_go_into_the_meta_unless_the_meta_has_its_own_traceparent() -> None:
    header = {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "tracestate": "k=v"}
    own = "00-" + "c" * 32 + "-" + "d" * 16 + "-01"
    assert call({"name": "t"}, trace=header).context.meta == header
    assert call({"name": "t", "_meta": {"traceparent": own}}, trace=header).context.meta == {"traceparent": own}
    assert call({"name": "t"}, trace={"tracestate": "k=v"}).context.meta == {}
