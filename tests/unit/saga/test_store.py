"""The saga store remembers an interrupted rollback, between its steps as well as inside one, and
which workflows and principals it has a record of."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import UnknownWorkflowError
from gateway.saga.model import WorkflowStatus
from gateway.saga.store import SagaStore


def test_a_rollback_begun_and_not_ended_is_in_flight_after_a_reopen(tmp_path: Path) -> None:
    store = SagaStore(tmp_path / "saga.db")
    store.begin_rollback("wf-1", "steps", {"steps": [2, 3]})
    store.begin_rollback("wf-2", "all", {})
    store.end_rollback("wf-2")
    reopened = SagaStore(tmp_path / "saga.db")  # a crash between two steps: none half-compensated
    assert reopened.in_flight_rollbacks() == [("wf-1", "steps", {"steps": [2, 3]})]
    reopened.end_rollback("wf-1")
    assert SagaStore(tmp_path / "saga.db").in_flight_rollbacks() == []


def test_a_workflow_is_known_once_anything_is_recorded_of_it(tmp_path: Path) -> None:
    store = SagaStore(tmp_path / "saga.db")
    with pytest.raises(UnknownWorkflowError, match="no workflow 'wf-1'"):
        store.require("wf-1")
    store.claim("wf-1", "agent-a", frozenset())
    store.require("wf-1")
    assert SagaStore(tmp_path / "saga.db").known("wf-1")


def test_a_principal_is_known_once_it_owns_a_workflow_or_an_operator_set_its_status(tmp_path: Path) -> None:
    store = SagaStore(tmp_path / "saga.db")
    assert not store.principal_known("agent-a")
    store.claim("wf-1", "agent-a", frozenset())
    store.set_principal_status("agent-b", WorkflowStatus.QUARANTINED, "runaway")
    assert store.principal_known("agent-a") and store.principal_known("agent-b")
    assert not store.principal_known("agent-c")
