"""The budget guard: calls, mutations, distinct resources and sums, per workflow and per principal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.guards.budgets import BudgetGuard, BudgetLimits
from gateway.saga.store import SagaStore

DEPOSIT = "demo/deposit"
SUMS = {"amount_cents": {"path": "amount_cents", "tools": ["demo/deposit", "demo/transfer"], "per_workflow": 10000}}


class Counts:
    """The workflow book's call and mutation counters, as the guard reads them."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], list[int]] = {}

    def __call__(self, kind: str, key: str) -> tuple[int, int]:
        calls, mutations = self.seen.get((kind, key), [0, 0])
        return calls, mutations

    def ran(self, workflow: str, principal: str, mutation: bool) -> None:
        for key in (("workflow", workflow), ("principal", principal)):
            counted = self.seen.setdefault(key, [0, 0])
            counted[0] += 1
            counted[1] += int(mutation)


def guard_with(budgets: dict[str, Any], store: Any = None, counts: Counts | None = None) -> tuple[BudgetGuard, Counts]:
    counts = counts or Counts()
    return BudgetGuard(lambda: budgets, counts, store), counts


def spend(guard: BudgetGuard, counts: Counts, arguments: dict[str, Any], **kw: Any):  # type: ignore[no-untyped-def]
    """One call that runs when the budget lets it (what the default policy does)."""
    workflow, principal = kw.pop("workflow", "wf-1"), kw.pop("principal", "ada")
    tool, read_only, result = kw.pop("tool", DEPOSIT), kw.pop("read_only", False), kw.pop("result", None)
    measure, mark = guard.measure(workflow, principal, tool, arguments, read_only=read_only, **kw)
    if not measure.tripped:
        counts.ran(workflow, principal, not read_only)
    guard.settle(mark, ran=not measure.tripped, result=result)
    return measure


def test_a_sum_over_an_argument_is_exhausted_across_a_workflow_and_the_denial_names_spent_and_limit() -> None:
    guard, counts = guard_with({"sums": SUMS})
    for _ in range(3):
        assert not spend(guard, counts, {"account_id": "a1", "amount_cents": 3000}).tripped
    refused = spend(guard, counts, {"account_id": "a1", "amount_cents": 12000})
    assert refused.tripped
    assert refused.reason == "workflow wf-1 would move 12000 amount_cents, over its budget of 10000 (spent 9000)"
    figure = next(f for f in refused.figures if f.exceeded)
    assert (figure.budget, figure.scope, figure.spent, figure.amount, figure.limit) == (
        "amount_cents",
        "workflow",
        9000,
        12000,
        10000,
    )
    assert not spend(guard, counts, {"account_id": "a1", "amount_cents": 1000}).tripped  # exactly at the limit
    assert spend(guard, counts, {"account_id": "a1", "amount_cents": 1}).tripped


def test_a_sum_counts_only_matching_tools_and_numeric_values_and_counts_magnitudes() -> None:
    guard, counts = guard_with({"sums": SUMS})
    assert spend(guard, counts, {"amount_cents": 99999}, tool="demo/other").figures == []
    assert spend(guard, counts, {"amount_cents": "lots"}).figures == []
    assert spend(guard, counts, {"amount_cents": True}).figures == []
    spend(guard, counts, {"amount_cents": -6000})
    assert spend(guard, counts, {"amount_cents": 5000}).tripped


def test_a_sum_path_may_be_nested() -> None:
    guard, counts = guard_with({"sums": {"cents": {"path": "payment.amount", "per_workflow": 10}}})
    spend(guard, counts, {"payment": {"amount": 8}})
    assert spend(guard, counts, {"payment": {"amount": 3}}).reason == (
        "workflow wf-1 would move 3 cents, over its budget of 10 (spent 8)"
    )


def test_per_principal_sums_span_the_principals_workflows_and_spare_other_principals() -> None:
    guard, counts = guard_with({"sums": {"amount_cents": {"path": "amount_cents", "per_principal": 100}}})
    spend(guard, counts, {"amount_cents": 60}, workflow="wf-1")
    refused = spend(guard, counts, {"amount_cents": 60}, workflow="wf-2")
    assert refused.reason == "agent ada would move 60 amount_cents, over its budget of 100 (spent 60)"
    assert not spend(guard, counts, {"amount_cents": 60}, workflow="wf-3", principal="bob").tripped


def test_the_mutation_budget_is_measured_on_the_workflow_books_counts_and_reads_are_not_mutations() -> None:
    guard, counts = guard_with({"max_mutations_per_workflow": 2})
    assert not spend(guard, counts, {}).tripped and not spend(guard, counts, {}).tripped
    refused = spend(guard, counts, {})
    assert refused.reason == "workflow wf-1 has used its budget of 2 mutating calls"
    assert not spend(guard, counts, {}, read_only=True).tripped


def test_a_call_budget_counts_reads_too() -> None:
    guard, counts = guard_with({"max_calls_per_principal": 2})
    spend(guard, counts, {}, read_only=True)
    spend(guard, counts, {}, read_only=True, workflow="wf-2")
    assert spend(guard, counts, {}, read_only=True).reason == "agent ada has used its budget of 2 calls"


def test_distinct_resource_keys_are_counted_from_the_blast_radius_including_keys_of_the_result() -> None:
    guard, counts = guard_with({"max_resources_per_workflow": 2})
    radius = ["account:{args.account_id}", "customer:{result.customer}"]
    spend(guard, counts, {"account_id": "a1"}, blast_radius=radius, result={"customer": "c1"})
    again = spend(guard, counts, {"account_id": "a1"}, blast_radius=radius, result={"customer": "c1"})
    assert not again.tripped  # the same keys again: nothing new touched
    refused = spend(guard, counts, {"account_id": "a2"}, blast_radius=radius)
    assert refused.reason == "workflow wf-1 would touch 3 distinct resources, over its budget of 2 (touched 2)"


def test_concurrent_calls_see_each_others_reservations_and_a_call_that_did_not_run_spends_nothing() -> None:
    guard, counts = guard_with({"sums": SUMS})
    first, first_mark = guard.measure("wf-1", "ada", DEPOSIT, {"amount_cents": 6000}, read_only=False)
    second, second_mark = guard.measure("wf-1", "ada", DEPOSIT, {"amount_cents": 6000}, read_only=False)
    assert not first.tripped and second.tripped
    assert second.reason == "workflow wf-1 would move 6000 amount_cents, over its budget of 10000 (spent 6000)"
    guard.settle(second_mark, ran=False)
    guard.settle(first_mark, ran=False)  # denied by policy after all
    assert not spend(guard, counts, {"amount_cents": 10000}).tripped


def test_sums_and_resource_keys_survive_a_restart_in_the_saga_store(tmp_path: Path) -> None:
    budgets = {"sums": SUMS, "max_resources_per_workflow": 2}
    guard, counts = guard_with(budgets, SagaStore(tmp_path / "saga.db"))
    spend(guard, counts, {"account_id": "a1", "amount_cents": 9000}, blast_radius=["account:{args.account_id}"])
    spend(guard, counts, {"account_id": "a2", "amount_cents": 500}, blast_radius=["account:{args.account_id}"])

    again, _ = guard_with(budgets, SagaStore(tmp_path / "saga.db"), counts)  # a new process
    assert again.measure("wf-1", "ada", DEPOSIT, {"amount_cents": 1000}, read_only=False)[0].reason == (
        "workflow wf-1 would move 1000 amount_cents, over its budget of 10000 (spent 9500)"
    )
    over = again.measure(
        "wf-1", "ada", DEPOSIT, {"account_id": "a3"}, read_only=False, blast_radius=["account:{args.account_id}"]
    )
    assert over[0].tripped and "touched 2" in (over[0].reason or "")


def test_limits_follow_the_policy_data_as_it_is_reloaded() -> None:
    data: dict[str, Any] = {"budgets": {"max_mutations_per_workflow": 1}}
    counts = Counts()
    guard = BudgetGuard(lambda: data["budgets"], counts)
    spend(guard, counts, {})
    assert spend(guard, counts, {}).tripped
    data["budgets"] = {"max_mutations_per_workflow": 10}  # a reload gives a new object
    assert not spend(guard, counts, {}).tripped


def test_malformed_budgets_refuse_every_call_with_the_key_named() -> None:
    limits = BudgetLimits.from_data({"max_calls_per_workflow": "many", "sums": {"x": {"path": 3}}})
    assert limits.problems == (
        "budgets.max_calls_per_workflow must be a non-negative number or null, not 'many'",
        "budgets.sums.x must be an object with a string path",
    )
    guard, counts = guard_with({"max_calls_per_workflow": "many"})
    assert spend(guard, counts, {}, read_only=True).tripped


def test_no_budgets_no_figures() -> None:
    guard, counts = guard_with({})
    assert spend(guard, counts, {"amount_cents": 5}).figures == []


def test_state_shows_budgets_near_their_limits_and_recent_trips() -> None:
    guard, counts = guard_with({"sums": SUMS})
    spend(guard, counts, {"amount_cents": 8500})
    spend(guard, counts, {"amount_cents": 8500})
    state = guard.state()
    assert state["near_limits"] == [
        {"scope": "workflow", "key": "wf-1", "budget": "amount_cents", "spent": 8500.0, "limit": 10000.0}
    ]
    assert state["recent_trips"][0]["spent"] == 8500 and state["recent_trips"][0]["limit"] == 10000
