"""The saga store remembers an interrupted rollback, between its steps as well as inside one."""

from __future__ import annotations

from pathlib import Path

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
