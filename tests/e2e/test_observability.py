"""Traces, metrics and logs of calls through the real gateway app, served by uvicorn on 127.0.0.1
in this process (so the spans reach an in-memory exporter), with the SDK client over streamable HTTP."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from mcp.shared.exceptions import MCPError
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway
from gateway.config import hash_token, load_config
from gateway.observability import Observability, configure_logging
from gateway.server.http import build_app
from tests.conftest import DEFAULT_POLICIES, PROBE, PYTHON, TOKEN, agents_toml, free_port
from tests.e2e.helpers import handshake_session, http_client
from tests.e2e.test_rollback import KV_MANIFESTS, wait_for_status
from tests.unit.observability.test_metrics import FAMILIES

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

METRICS_TOKEN = "rg_test_metrics_scraper"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
MANIFEST = "version: 1\ntools:\n" + "".join(
    f"  - server: probe\n    tool: {tool}\n    reversibility: read_only\n    impact: low\n"
    for tool in ("echo", "trace_meta")
)
"""The default policy allows a low-impact read: the calls go all the way to the upstream."""


@asynccontextmanager
async def serving(
    tmp_path: Path, exporter: InMemorySpanExporter, observability: str = "", manifest: str = ""
) -> AsyncIterator[str]:
    port = free_port()
    manifests = tmp_path / "manifests"
    manifests.mkdir(exist_ok=True)
    (manifests / "probe.yaml").write_text(manifest or MANIFEST)
    path = tmp_path / "rollgate.toml"
    path.write_text(
        f"[server]\nport = {port}\n"
        f'[paths]\npolicies = "{DEFAULT_POLICIES}"\nmanifests = "{manifests}"\nstate_dir = "{tmp_path / "state"}"\n'
        f"[approvals]\nwait_seconds = 0.3\n"
        f'[observability]\nmetrics_token_sha256 = "{hash_token(METRICS_TOKEN)}"\n{observability}\n'
        f"{agents_toml()}\n"
        f'[[upstreams]]\nname = "probe"\ncommand = "{PYTHON}"\nargs = ["{PROBE}"]\n'
    )
    config = load_config(path)
    gateway = Gateway(config, Observability.from_config(config.observability, exporter))
    async with gateway.running(), anyio.create_task_group() as tg:
        server = uvicorn.Server(uvicorn.Config(build_app(gateway), host="127.0.0.1", port=port, log_level="warning"))
        tg.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[Any]]:
    spans: dict[str, list[Any]] = {}
    for span in exporter.get_finished_spans():
        spans.setdefault(span.name, []).append(span)
    return spans


async def test_a_call_has_its_span_with_policy_ledger_and_upstream_children(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with serving(tmp_path, exporter) as base, http_client(f"{base}/mcp", TOKEN) as client:
        result = await client.call_tool("probe__echo", {"text": "hello"})
    assert not result.is_error
    spans = by_name(exporter)
    (call,) = spans["execute_tool probe__echo"]
    attributes = dict(call.attributes)
    assert call.kind is SpanKind.SERVER
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["gen_ai.tool.name"] == "probe__echo"
    assert attributes["gen_ai.tool.call.id"].startswith("call")
    assert attributes["mcp.method.name"] == "tools/call"
    assert attributes["rollgate.principal.id"] == "agent-one"
    assert attributes["rollgate.decision.effect"] == "allow"
    assert attributes["rollgate.outcome"] == "ok"
    assert "mcp.session.id" in attributes
    assert not any("hello" in str(value) for value in attributes.values())  # arguments are never attributes
    children = {
        s.name: s for s in exporter.get_finished_spans() if s.parent and s.parent.span_id == call.context.span_id
    }
    assert {"policy evaluate", "ledger append", "tools/call echo"} <= set(children)
    assert children["tools/call echo"].kind is SpanKind.CLIENT
    assert all(s.context.trace_id == call.context.trace_id for s in children.values())
    ledger_events = {s.attributes["rollgate.ledger.event"] for s in spans["ledger append"]}
    assert ledger_events == {"call.intent", "call.outcome"}


async def test_an_incoming_traceparent_is_continued_and_passed_on_upstream(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    traceparent = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
    async with serving(tmp_path, exporter) as base, http_client(f"{base}/mcp", TOKEN) as client:
        result = await client.call_tool("probe__trace_meta", {}, meta={"traceparent": traceparent})
    (call,) = by_name(exporter)["execute_tool probe__trace_meta"]
    assert format(call.context.trace_id, "032x") == TRACE_ID
    assert call.parent is not None and format(call.parent.span_id, "016x") == CLIENT_SPAN
    (upstream,) = by_name(exporter)["tools/call trace_meta"]
    seen = result.structured_content
    assert seen is not None
    # The upstream saw the gateway's own upstream span as parent, in the same trace.
    assert seen["traceparent"] == f"00-{TRACE_ID}-{format(upstream.context.span_id, '016x')}-01"


async def test_a_traceparent_http_header_is_continued(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    headers = {"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"}
    async with serving(tmp_path, exporter) as base, httpx.AsyncClient() as http:
        session = await handshake_session(http, f"{base}/mcp", TOKEN)
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "probe__echo", "arguments": {"text": "x"}},
        }
        answer = await http.post(f"{base}/mcp", json=call, headers=session | headers)
    assert answer.status_code == 200
    (call,) = by_name(exporter)["execute_tool probe__echo"]
    assert format(call.context.trace_id, "032x") == TRACE_ID


async def test_metrics_have_every_family_and_need_the_scrapers_token(tmp_path: Path) -> None:
    async with serving(tmp_path, InMemorySpanExporter()) as base:
        async with http_client(f"{base}/mcp", TOKEN) as client:
            await client.call_tool("probe__echo", {"text": "one"})
            with pytest.raises(MCPError):
                await client.call_tool("probe__nope", {})
        async with httpx.AsyncClient() as http:
            refused = await http.get(f"{base}/metrics")
            answer = await http.get(f"{base}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert refused.status_code == 401
    assert answer.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}
    assert set(families) >= FAMILIES
    calls = {
        (s.labels["tool"], s.labels["decision"], s.labels["outcome"]): s.value
        for s in families["rollgate_calls"].samples
        if s.name == "rollgate_calls_total"
    }
    assert calls[("probe/echo", "allow", "ok")] == 1
    assert calls[("unresolved", "none", "rejected")] == 1  # an unknown name is not a label value
    stages = {s.labels["stage"] for s in families["rollgate_stage_duration_seconds"].samples}
    assert {"decide", "forward", "record_intent", "resolve"} <= stages
    appends = {s.labels["kind"] for s in families["rollgate_ledger_appends"].samples}
    assert "call.intent" in appends
    assert any(s.value > 0 for s in families["rollgate_ledger_fsync_seconds"].samples if s.name.endswith("_count"))


async def test_metrics_refuse_a_wrong_token(tmp_path: Path) -> None:
    async with serving(tmp_path, InMemorySpanExporter()) as base, httpx.AsyncClient() as http:
        wrong = await http.get(f"{base}/metrics", headers={"authorization": "Bearer guess"})
    assert wrong.status_code == 401


async def test_log_lines_are_json_and_carry_no_planted_secret(tmp_path: Path) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("INFO", "json", stream=stream)
    try:
        async with serving(tmp_path, InMemorySpanExporter()) as base, http_client(f"{base}/mcp", TOKEN) as client:
            await client.call_tool("probe__echo", {"text": "hunter2-secret-value", "password": "hunter2-secret-value"})
    finally:
        root.handlers, root.level = saved
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    calls = [line for line in lines if line.get("logger") == "rollgate.calls"]
    assert len(calls) == 1
    line = calls[0]
    assert line["event"] == "tools/call" and line["principal"] == "agent-one"
    assert line["correlation_id"].startswith("call") and line["tool"] == "probe/echo"
    assert {"decision", "outcome", "duration_ms", "workflow"} <= set(line)
    assert "hunter2-secret-value" not in stream.getvalue()


async def test_a_rollback_is_traced_under_the_failing_call_with_a_span_per_compensation(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    manifest = (KV_MANIFESTS / "probe_kv.yaml").read_text() + (
        "  - {server: probe, tool: fail, reversibility: irreversible, impact: low, atomic: true}\n"
    )
    store = tmp_path / "kv.json"
    async with serving(tmp_path, exporter, manifest=manifest) as base, http_client(f"{base}/mcp", TOKEN) as client:
        meta = {"rollgate/workflow": "wf-atomic"}
        arguments = {"path": str(store), "key": "a", "value": "1", "undo_failures": 0, "undo_delay": 0}
        await client.call_tool("probe__kv_set", arguments, meta=meta)
        await client.call_tool("probe__fail", {"message": "boom"}, meta=meta)
        await wait_for_status(client, "wf-atomic", "rolled_back")
        async with httpx.AsyncClient() as http:
            scraped = await http.get(f"{base}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    spans = by_name(exporter)
    (failing,) = spans["execute_tool probe__fail"]
    (rollback,) = spans["rollback"]
    assert rollback.parent is not None and rollback.parent.span_id == failing.context.span_id
    assert rollback.attributes is not None and rollback.attributes["rollgate.rollback.status"] == "rolled_back"
    compensations = [
        s
        for s in exporter.get_finished_spans()
        if s.name.startswith("execute_tool") and (s.attributes or {}).get("rollgate.compensation")
    ]
    assert compensations and all(s.parent and s.parent.span_id == rollback.context.span_id for s in compensations)
    assert any("kv_undo" in s.name for s in compensations)
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    assert [(s.labels, s.value) for s in families["rollgate_rollbacks"].samples] == [({"status": "rolled_back"}, 1.0)]
    compensated = {s.labels["outcome"]: s.value for s in families["rollgate_compensations"].samples}
    assert compensated == {"compensated": 1.0}
