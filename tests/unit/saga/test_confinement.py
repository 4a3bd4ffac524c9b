"""For any interleaving of calls and meta-tool operations by agents A and B, nothing B does
changes A's workflows: their steps, checkpoints, status or budget (a hypothesis state machine
over the real saga store, its ownership check, which the Confine stage and the meta-tools use,
and the workflow operations)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gateway.errors import NotYoursError
from gateway.ledger.events import LedgerEvent
from gateway.models import Principal
from gateway.saga.model import Step
from gateway.saga.service import Workflows
from gateway.saga.store import SagaStore
from gateway.workflows import WorkflowBook

AGENTS = {"a": Principal("a", frozenset({"agent"})), "b": Principal("b", frozenset({"agent"}))}
agents = st.sampled_from(sorted(AGENTS))


async def _nothing(event: LedgerEvent) -> None:
    return None


class TwoAgents(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.saga = SagaStore(Path(self.folder.name) / "saga.db")
        self.ops = Workflows(self.saga, _nothing)
        self.book = WorkflowBook()
        self.owner: dict[str, str] = {}
        self.expected_steps: dict[str, int] = {}
        self.expected_marks: dict[str, int] = {}
        self.expected_mutations: dict[str, int] = {}

    def teardown(self) -> None:
        self.folder.cleanup()

    def _acts(self, who: str, workflow: str) -> bool:
        try:
            self.saga.authorize(workflow, who, AGENTS[who].roles, frozenset())
        except NotYoursError:
            assert self.owner.setdefault(workflow, who) != who
            return False
        assert self.owner.setdefault(workflow, who) == who
        return True

    @rule(who=agents)
    def begin(self, who: str) -> None:
        workflow = self.ops.begin(AGENTS[who], None, False)
        self.owner[workflow] = who

    @rule(who=agents, data=st.data())
    @precondition(lambda self: self.owner)
    def call_into(self, who: str, data: st.DataObject) -> None:
        workflow = data.draw(st.sampled_from(sorted(self.owner)))
        if self._acts(who, workflow):
            step = Step(
                seq=0, workflow=workflow, correlation_id="c", principal=who, tool="demo/t", exposed_name="t",
                arguments={}, reversibility="compensable", impact="low",
            )  # fmt: skip
            self.saga.add_step(step)
            self.book.record(workflow, mutation=True, principal=who)
            self.expected_steps[workflow] = self.expected_steps.get(workflow, 0) + 1
            self.expected_mutations[workflow] = self.expected_mutations.get(workflow, 0) + 1

    @rule(who=agents, data=st.data(), label=st.text(min_size=1, max_size=5))
    @precondition(lambda self: self.owner)
    def checkpoint(self, who: str, data: st.DataObject, label: str) -> None:
        workflow = data.draw(st.sampled_from(sorted(self.owner)))
        try:
            self.ops.authorize(AGENTS[who], workflow, frozenset())
        except NotYoursError:
            assert self.owner[workflow] != who
            return
        anyio.run(self.ops.checkpoint, workflow, label, None)
        self.expected_marks[workflow] = self.expected_marks.get(workflow, 0) + 1

    @rule(who=agents, fresh=st.sampled_from(["wf-42", "wf-43"]))
    def name_a_workflow(self, who: str, fresh: str) -> None:
        """A client-chosen id: the first to use it owns it; the other is refused."""
        self._acts(who, fresh)

    @invariant()
    def each_workflow_holds_only_its_owners_work(self) -> None:
        for workflow, owner in self.owner.items():
            steps = self.saga.steps(workflow)
            assert all(s.principal == owner for s in steps)
            assert len(steps) == self.expected_steps.get(workflow, 0)
            assert len(self.saga.checkpoints(workflow)) == self.expected_marks.get(workflow, 0)
            assert self.book.view(workflow).mutations == self.expected_mutations.get(workflow, 0)
            assert self.saga.status(workflow)[0].value == "active"


TestTwoAgents = TwoAgents.TestCase
TestTwoAgents.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
