"""Budget counters survive a restart: they are kept with the saga state, not only in memory."""

from __future__ import annotations

from pathlib import Path

from gateway.app import _SagaFacts
from gateway.models import Principal
from gateway.saga.store import SagaStore
from gateway.workflows import WorkflowBook

ADA = Principal("ada", frozenset({"agent"}))


def book(path: Path) -> WorkflowBook:
    return WorkflowBook(facts=_SagaFacts(SagaStore(path)))


def test_mutation_counts_survive_a_restart(tmp_path: Path) -> None:
    first = book(tmp_path / "saga.db")
    for _ in range(3):
        first.record("wf-1", mutation=True, principal="ada")
    first.record("wf-1", mutation=False, principal="ada")  # a read: counted as a step
    first.record("wf-2", mutation=True, principal="ada")

    again = book(tmp_path / "saga.db")  # a new process on the same state directory
    assert again.view("wf-1").mutations == 3 and again.view("wf-2").mutations == 1
    assert again.principal(ADA).mutations == 4
    again.record("wf-1", mutation=True, principal="ada")
    assert book(tmp_path / "saga.db").view("wf-1").mutations == 4


def test_without_a_saga_store_the_counts_live_in_memory() -> None:
    memory = WorkflowBook()
    memory.record("wf", mutation=True, principal="ada")
    assert memory.view("wf").mutations == 1 and WorkflowBook().view("wf").mutations == 0
