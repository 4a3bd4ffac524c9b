"""The timeline's sentences for entries whose answers vary: a held call that ran while its agent
waited is still named by its approval, and a reconciled step says what the read found."""

from __future__ import annotations

from gateway.ledger.entry import index_columns, seal
from gateway.ledger.timeline import moment
from gateway.store.base import LedgerRow


def line(kind: str, data: dict[str, object]) -> str:
    entry = seal(1, "0" * 64, "2026-12-03T10:00:00+00:00", kind, data)
    return moment(LedgerRow(entry.seq, entry.body, entry.entry_hash, entry.leaf, **index_columns(entry))).line()


def test_a_held_call_approved_while_its_agent_waited_names_its_approval() -> None:
    ran = {"principal": "ada", "tool": "demo/send_email", "workflow": "wf", "approval_id": "apr_1"}
    said = line("call.held", {**ran, "answer": {"id": "msg_1", "to": "x@example.com"}})
    assert "held for approval apr_1 (approved, and it ran)" in said and "None" not in said
    waiting = line("call.held", {**ran, "answer": {"approval_id": "apr_1", "status": "pending"}})
    assert "held for approval apr_1 (pending)" in waiting


def test_a_reconciled_step_says_what_the_read_found() -> None:
    data = {"workflow": "wf", "step": 3, "tool": "demo/create_customer"}
    assert "it had taken effect" in line("step.reconciled", {**data, "took_effect": True})
    assert "nothing to undo" in line("step.reconciled", {**data, "took_effect": False})
