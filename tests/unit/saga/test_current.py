"""Ownership of workflows and the principal's current workflow."""

from __future__ import annotations

from pathlib import Path

from gateway.saga.current import CurrentWorkflows
from gateway.saga.model import Owner, WorkflowStatus
from gateway.saga.store import SagaStore


def test_a_workflow_belongs_to_its_first_principal_and_to_no_other(tmp_path: Path) -> None:
    saga = SagaStore(tmp_path / "saga.db")
    assert saga.claim("wf", "agent-a", frozenset({"agent"})).id == "agent-a"
    assert saga.claim("wf", "agent-b", frozenset({"agent"})).id == "agent-a"
    assert SagaStore(tmp_path / "saga.db").owner("wf") == Owner("agent-a", frozenset({"agent"}))
    assert (tmp_path / "saga.db").stat().st_mode & 0o777 == 0o600


def test_only_a_configured_team_role_shares_a_workflow() -> None:
    owner = Owner("a", frozenset({"agent", "payments"}))
    assert owner.admits("a", frozenset(), frozenset())
    assert not owner.admits("b", frozenset({"agent", "payments"}), frozenset())
    assert owner.admits("b", frozenset({"payments"}), frozenset({"payments"}))
    assert not owner.admits("b", frozenset({"agent"}), frozenset({"payments"}))


def test_quarantined_workflows_are_known_by_their_owner(tmp_path: Path) -> None:
    saga = SagaStore(tmp_path / "saga.db")
    saga.claim("wf1", "a", frozenset())
    assert saga.quarantined_of("a") == []
    saga.set_status("wf1", WorkflowStatus.QUARANTINED, "fraud")
    assert saga.quarantined_of("a") == ["wf1"]
    saga.set_status("wf1", WorkflowStatus.ACTIVE, None)
    assert saga.quarantined_of("a") == []


def test_a_principal_keeps_its_current_workflow_until_idle_begin_or_rollback(tmp_path: Path) -> None:
    saga = SagaStore(tmp_path / "saga.db")
    now = [0.0]
    current = CurrentWorkflows(60, saga, clock=lambda: now[0])
    first = current.of("a")
    assert current.of("a") == first and current.of("b") != first
    now[0] = 59
    assert current.of("a") == first
    now[0] = 200
    second = current.of("a")
    assert second != first
    current.start("a", "wf_begun")
    assert current.of("a") == "wf_begun"
    saga.set_status("wf_begun", WorkflowStatus.ROLLED_BACK, "rolled back")
    assert current.of("a") != "wf_begun"
