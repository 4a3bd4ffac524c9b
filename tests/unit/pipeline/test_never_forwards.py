"""Property: whatever the manifest, arguments and signals, only an `allow` ever reaches an upstream,
and the pipeline answers every input (a result or a named CallError), never crashing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import NamespaceConfig
from gateway.errors import CallError
from gateway.manifests import ManifestRegistry
from gateway.models import CallContext, Principal
from gateway.pipeline import Call, Stages
from gateway.pipeline.verdict import DECISION_META
from gateway.policy import PolicyService, RegorusEngine
from gateway.upstream.catalog import Catalog, UpstreamListing
from gateway.workflows import WorkflowBook
from tests.conftest import DEFAULT_POLICIES

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": True}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
manifests = st.fixed_dictionaries(
    {
        "server": st.just("up"),
        "tool": st.just("t"),
        "reversibility": st.sampled_from(["read_only", "reversible", "compensable", "irreversible"]),
        "impact": st.sampled_from(["low", "medium", "high", "critical"]),
    }
)
annotations = st.none() | st.builds(
    types.ToolAnnotations,
    read_only_hint=st.none() | st.booleans(),
    destructive_hint=st.none() | st.booleans(),
    open_world_hint=st.none() | st.booleans(),
)


class RecordingLink:
    def __init__(self) -> None:
        self.forwarded: list[dict[str, Any]] = []

    async def request(self, method: str, params: Any, progress: Any = None, **_: Any) -> dict[str, Any]:
        self.forwarded.append(params)
        return {"content": [], "isError": False}


async def run(
    tmp: Path,
    manifest: dict[str, Any] | None,
    notes: types.ToolAnnotations | None,
    name: str,
    arguments: Any,
    meta: dict[str, Any],
) -> tuple[dict[str, Any] | None, list[Any], str | None]:
    directory = tmp / "m"
    directory.mkdir(exist_ok=True)
    (directory / "m.yaml").write_text(yaml.safe_dump({"version": 1, "tools": [manifest] if manifest else []}))
    registry = ManifestRegistry.load(directory)
    tool = types.Tool(name="t", input_schema=SCHEMA, annotations=notes)
    catalog = Catalog(NamespaceConfig(), {"up": UpstreamListing(tools=[tool])})
    policy = PolicyService(RegorusEngine(), DEFAULT_POLICIES, "data.rollgate.policy.decision")
    await policy.load()
    stages = Stages(lambda: catalog, lambda: registry, lambda: policy, WorkflowBook())
    link = RecordingLink()

    async def links(upstream: str) -> Any:
        return link

    context = CallContext(Principal("p"), name, arguments, "wf", None, "c", meta)
    call = Call(context=context, links=links)
    try:
        result = await stages.pipeline().call(call)
    except CallError as refused:
        return None, link.forwarded, refused.message
    effect = call.decision.effect.value if call.decision else None
    return result, link.forwarded, effect


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    manifest=st.none() | manifests,
    notes=annotations,
    name=st.sampled_from(["up__t", "t", "UP__t", "up__T", "up_t"]),
    arguments=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    confidence=st.none() | st.floats(min_value=-1, max_value=2, allow_nan=False) | st.text(max_size=3),
)
def test_only_allowed_calls_are_ever_forwarded(tmp_path: Path, manifest, notes, name, arguments, confidence) -> None:
    meta = {} if confidence is None else {"rollgate/confidence": confidence}
    result, forwarded, outcome = anyio.run(run, tmp_path, manifest, notes, name, arguments, meta)
    if forwarded:
        assert outcome == "allow" and name == "up__t" and len(forwarded) == 1
        assert forwarded[0]["name"] == "t"
    if result is not None and outcome != "allow":
        assert result["isError"] is True and result["_meta"][DECISION_META]["effect"] == outcome
