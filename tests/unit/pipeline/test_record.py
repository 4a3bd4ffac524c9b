"""When a call's intent is durable relative to its forwarding and its answer, with a real ledger.

Every call waits for its intent before it is forwarded, except a call to a tool the operator's
manifest declares read-only (with `reads_ahead`): that one is forwarded while its intent is
written, and its answer waits for the intent. A ledger that cannot write withholds the answer.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
import yaml

from gateway.config import NamespaceConfig
from gateway.errors import UnrecordedError
from gateway.ledger.keys import load_or_create
from gateway.ledger.ledger import Ledger
from gateway.ledger.privacy import Masker
from gateway.manifests import ManifestRegistry
from gateway.models import CallContext, Principal
from gateway.pipeline import Call, Stages
from gateway.policy import PolicyService, RegorusEngine
from gateway.store import SqliteLedgerStore
from gateway.upstream.catalog import Catalog, UpstreamListing
from gateway.workflows import WorkflowBook
from tests.conftest import ALLOW_ALL
from tests.unit.store.test_journal import stored_seqs

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"key": {"type": "string"}}}
MANIFESTS = [
    {"server": "up", "tool": "read", "reversibility": "read_only", "impact": "low"},
    {"server": "up", "tool": "write", "reversibility": "reversible", "impact": "low"},
]


class GatedStore(SqliteLedgerStore):
    """The real store; each durable write waits for `gate`, and fails while `failing` is set."""

    gate: threading.Event
    failing: bool = False
    durable: list[int]

    def append(self, rows):  # type: ignore[no-untyped-def]
        assert self.gate.wait(10)
        if self.failing:
            raise OSError(28, "No space left on device")
        super().append(rows)
        self.durable.extend(row.seq for row in rows)


class RecordingLink:
    """The upstream end: notes which ledger entries were durable when each call reached it."""

    def __init__(self, store: GatedStore) -> None:
        self.store = store
        self.durable_at_forward: list[list[int]] = []

    async def request(self, method: str, params: Any, progress: Any = None, **_: Any) -> dict[str, Any]:
        self.durable_at_forward.append(list(self.store.durable))
        if not self.store.gate.is_set():  # a slow disk: the answer is back before the intent is durable
            threading.Timer(0.2, self.store.gate.set).start()
        return {"content": [{"type": "text", "text": params["name"]}], "isError": False}


async def gateway_parts(tmp_path: Path, *, reads_ahead: bool, annotated_only: bool = False):  # type: ignore[no-untyped-def]
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    if not annotated_only:
        (manifests / "m.yaml").write_text(yaml.safe_dump({"version": 1, "tools": MANIFESTS}))
    registry = ManifestRegistry.load(manifests)
    read_only = types.ToolAnnotations(read_only_hint=True)
    tools = [types.Tool(name=name, input_schema=SCHEMA, annotations=read_only) for name in ("read", "write")]
    catalog = Catalog(NamespaceConfig(), {"up": UpstreamListing(tools=tools)})
    policy = PolicyService(RegorusEngine(), ALLOW_ALL, "data.rollgate.policy.decision")
    await policy.load()
    key, _ = load_or_create(tmp_path / "keys")
    store = GatedStore(tmp_path / "ledger.db")
    store.gate, store.durable = threading.Event(), []
    store.gate.set()
    ledger = Ledger(store, key, "t")
    masker = Masker.for_state_dir(tmp_path, 64 * 1024)
    stages = Stages(
        lambda: catalog, lambda: registry, lambda: policy, WorkflowBook(), (ledger, masker), reads_ahead=reads_ahead
    )
    return stages.pipeline(), ledger, store, RecordingLink(store)


async def call_through(pipeline, link: RecordingLink, tool: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    async def links(upstream: str) -> Any:
        return link

    context = CallContext(Principal("p"), f"up__{tool}", {"key": "k"}, "wf", None, f"c-{tool}")
    with anyio.fail_after(10):
        return await pipeline.call(Call(context=context, links=links))  # type: ignore[no-any-return]


async def test_a_declared_read_is_forwarded_while_its_intent_is_written_and_answered_after(tmp_path: Path) -> None:
    pipeline, ledger, store, link = await gateway_parts(tmp_path, reads_ahead=True)
    store.gate.clear()  # hold the intent's write back
    result = await call_through(pipeline, link, "read")
    assert link.durable_at_forward == [[]]  # forwarded before its intent was durable...
    assert 1 in store.durable  # ...and answered only after it was
    assert result["content"][0]["text"] == "read"
    ledger.close()
    assert stored_seqs(tmp_path) == [1, 2]  # intent, then its outcome


async def test_any_other_call_is_forwarded_only_once_its_intent_is_durable(tmp_path: Path) -> None:
    pipeline, ledger, store, link = await gateway_parts(tmp_path, reads_ahead=True)
    await call_through(pipeline, link, "write")
    assert link.durable_at_forward == [[1]]
    ledger.close()


@pytest.mark.parametrize(
    ("reads_ahead", "annotated_only"),
    [(False, False), (True, True)],
    ids=["reads-ahead-off", "read-only-by-annotations-alone"],
)
async def test_a_read_waits_for_its_intent_unless_the_operator_declared_it(
    tmp_path: Path, reads_ahead: bool, annotated_only: bool
) -> None:
    parts = await gateway_parts(tmp_path, reads_ahead=reads_ahead, annotated_only=annotated_only)
    pipeline, ledger, _, link = parts
    await call_through(pipeline, link, "read")
    assert link.durable_at_forward == [[1]]
    ledger.close()


@pytest.mark.parametrize("tool", ["read", "write"])
async def test_a_ledger_that_cannot_write_gets_no_answer_through(tmp_path: Path, tool: str) -> None:
    pipeline, ledger, store, link = await gateway_parts(tmp_path, reads_ahead=True)
    store.failing = True
    with pytest.raises(UnrecordedError, match="No space left on device") as refused:
        await call_through(pipeline, link, tool)
    withheld = "its answer is withheld" if tool == "read" else "it was not forwarded"
    assert withheld in refused.value.message
    assert len(link.durable_at_forward) == (1 if tool == "read" else 0)
    store.failing = False  # the disk has room again: the chain goes on where it stood
    assert (await call_through(pipeline, link, tool))["isError"] is False
    ledger.close()
    assert stored_seqs(tmp_path) == [1, 2]


class FaultyLink(RecordingLink):
    """An upstream end that breaks inside the gateway after the call went out (a bug, not an MCP error)."""

    async def request(self, method: str, params: Any, progress: Any = None, **_: Any) -> dict[str, Any]:
        await super().request(method, params, progress)
        raise RuntimeError("a bug after sending")


async def test_a_fault_of_the_gateway_after_forwarding_is_recorded_as_an_unknown_outcome(tmp_path: Path) -> None:
    pipeline, ledger, store, _ = await gateway_parts(tmp_path, reads_ahead=False)
    link = FaultyLink(store)
    with pytest.raises(RuntimeError, match="a bug after sending"):
        await call_through(pipeline, link, "write")
    ledger.close()
    reader = SqliteLedgerStore(tmp_path / "ledger.db", writer=False)
    try:
        rows = [(row.kind, json.loads(row.body)["data"]) for row in reader.rows()]
    finally:
        reader.close()
    assert [kind for kind, _ in rows] == ["call.intent", "call.outcome_unknown"]
    assert rows[1][1]["intent_seq"] == 1
    assert rows[1][1]["reason"] == "the gateway failed: RuntimeError: a bug after sending"


async def test_a_calls_intent_and_result_are_recorded_with_the_fields_they_always_had(tmp_path: Path) -> None:
    pipeline, ledger, store, link = await gateway_parts(tmp_path, reads_ahead=False)
    await call_through(pipeline, link, "write")
    ledger.close()
    reader = SqliteLedgerStore(tmp_path / "ledger.db", writer=False)
    try:
        (intent_kind, intent), (result_kind, result) = [(r.kind, json.loads(r.body)["data"]) for r in reader.rows()]
    finally:
        reader.close()
    who = {
        "correlation_id": "c-write",
        "principal": "p",
        "workflow": "wf",
        "step": None,
        "tool": "up/write",
        "requested_name": "up__write",
    }
    assert (intent_kind, result_kind) == ("call.intent", "call.result")
    assert intent == {
        **who,
        "roles": [],
        "arguments": {"key": "k"},
        "manifest": {
            "source": "manifest",
            "reversibility": "reversible",
            "impact": "low",
            "side_effects": [],
            "compensation": None,
        },
        "decision": {
            "id": intent["decision"]["id"],
            "effect": "allow",
            "reasons": ["test policy: everything is allowed"],
            "approvers": [],
        },
        "compensation": False,
    }
    assert result == {
        **who,
        "intent_seq": 1,
        "duration_ms": result["duration_ms"],
        "status": "ok",
        "result": {"content": [{"type": "text", "text": "write"}], "isError": False},
    }
