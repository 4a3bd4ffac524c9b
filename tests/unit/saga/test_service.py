"""Workflow operations roll back exactly what was asked, of workflows that exist, and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.errors import UnknownPrincipalError, UnknownScopeError, UnknownWorkflowError
from gateway.ledger.events import LedgerEvent
from gateway.saga.model import Compensation, Step, StepStatus
from gateway.saga.service import Workflows
from gateway.saga.store import SagaStore

pytestmark = pytest.mark.anyio


class Upstream:
    """Compensations and their verification reads, as the pipeline would run them."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, tool: str, arguments: dict[str, Any], workflow: str, compensation: bool) -> Any:
        self.ran.append((tool, arguments))
        return {"content": [], "structuredContent": {"undone": True}, "isError": False}


def workflows(tmp_path: Path) -> tuple[Workflows, Upstream, list[str]]:
    recorded: list[str] = []

    async def record(event: LedgerEvent) -> None:
        recorded.append(event.kind)

    upstream = Upstream()
    ops = Workflows(SagaStore(tmp_path / "saga.db"), record, upstream)
    ops.saga.claim("wf", "agent-a", frozenset({"agent"}))
    for n in range(1, 4):
        ops.saga.add_step(
            Step(
                seq=0, workflow="wf", correlation_id=f"c{n}", principal="agent-a", tool="kv/set",
                exposed_name="kv__set", arguments={"n": n}, reversibility="compensable", impact="low",
                resources=[f"kv:{n}"],
                compensation=Compensation(
                    tool="kv__undo", arguments={"n": n}, verify_tool="kv__get", expect={"result.undone": True}
                ),
            )
        )  # fmt: skip
    return ops, upstream, recorded


async def test_a_rollback_by_steps_compensates_only_those_steps(tmp_path: Path) -> None:
    ops, upstream, _ = workflows(tmp_path)
    report = await ops.rollback("wf", "steps", step_seqs=[1, 3])
    assert report.compensated == [3, 1] and report.status == "active"
    assert [a for tool, a in upstream.ran if tool == "kv__undo"] == [{"n": 3}, {"n": 1}]
    assert [s.status for s in ops.saga.steps("wf")] == [StepStatus.COMPENSATED, StepStatus.DONE, StepStatus.COMPENSATED]


async def test_an_unknown_workflow_is_an_error_and_leaves_no_trace(tmp_path: Path) -> None:
    ops, upstream, recorded = workflows(tmp_path)
    with pytest.raises(UnknownWorkflowError, match="no workflow 'wf_nonexistent'"):
        await ops.rollback("wf_nonexistent")
    assert not ops.saga.known("wf_nonexistent") and upstream.ran == [] and recorded == []
    assert ops.saga.in_flight_rollbacks() == []


async def test_an_unknown_step_is_an_error_and_nothing_is_undone(tmp_path: Path) -> None:
    ops, upstream, recorded = workflows(tmp_path)
    with pytest.raises(UnknownScopeError, match="no step 7 in this workflow"):
        await ops.rollback("wf", "steps", step_seqs=[2, 7])
    assert upstream.ran == [] and recorded == [] and ops.saga.in_flight_rollbacks() == []
    assert all(s.status is StepStatus.DONE for s in ops.saga.steps("wf"))


def test_an_agent_is_known_when_configured_or_seen(tmp_path: Path) -> None:
    ops, _, _ = workflows(tmp_path)
    ops.require_principal("agent-a", ())  # owns a workflow
    ops.require_principal("agent-b", {"agent-b"})  # configured, not seen yet
    with pytest.raises(UnknownPrincipalError, match="no agent 'agent-typo'"):
        ops.require_principal("agent-typo", {"agent-b"})
