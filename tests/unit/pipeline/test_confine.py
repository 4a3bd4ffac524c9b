"""Stage 1b, `Confine` (`gateway/pipeline/confine.py`): a call acts only on its principal's workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.errors import NotYoursError
from gateway.models import CallContext, Principal
from gateway.pipeline import Call
from gateway.pipeline.confine import Confine
from gateway.saga.store import SagaStore

pytestmark = pytest.mark.anyio
AGENT = frozenset({"agent"})


class Next:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def __call__(self, call: Call) -> dict[str, Any]:
        self.calls.append(call)
        return {"ran": call.context.principal.id}


def call_by(principal: str, workflow: str = "wf", roles: frozenset[str] = AGENT, *, internal: bool = False) -> Call:
    context = CallContext(Principal(principal, roles), "t", {}, workflow, None, "c", internal=internal)
    return Call(context=context, links=None)  # type: ignore[arg-type]


@pytest.fixture
def saga(tmp_path: Path) -> SagaStore:
    return SagaStore(tmp_path / "saga.db")


async def test_the_first_caller_of_a_workflow_claims_it_and_proceeds(saga: SagaStore) -> None:
    after = Next()
    assert await Confine(saga, frozenset())(call_by("a"), after) == {"ran": "a"}
    owner = saga.owner("wf")
    assert owner is not None and (owner.id, owner.roles) == ("a", AGENT)


async def test_another_principal_is_refused_before_any_later_stage_runs(saga: SagaStore) -> None:
    confine, after = Confine(saga, frozenset()), Next()
    await confine(call_by("a"), after)
    with pytest.raises(NotYoursError, match="workflow 'wf' belongs to another principal; b cannot act on it"):
        await confine(call_by("b"), after)
    assert [c.context.principal.id for c in after.calls] == ["a"]


async def test_the_owner_keeps_acting_and_a_new_workflow_belongs_to_whoever_opens_it(saga: SagaStore) -> None:
    confine, after = Confine(saga, frozenset()), Next()
    await confine(call_by("a"), after)
    await confine(call_by("a"), after)
    await confine(call_by("b", workflow="wf-b"), after)
    assert len(after.calls) == 3
    owner = saga.owner("wf-b")
    assert owner is not None and owner.id == "b"


async def test_a_team_sharing_a_configured_role_acts_on_each_others_workflows(saga: SagaStore) -> None:
    team = frozenset({"agent", "payments"})
    confine, after = Confine(saga, frozenset({"payments"})), Next()
    await confine(call_by("a", roles=team), after)
    await confine(call_by("b", roles=team), after)
    with pytest.raises(NotYoursError):
        await confine(call_by("c", roles=AGENT), after)  # shares "agent", which is not a team role
    assert [c.context.principal.id for c in after.calls] == ["a", "b"]


async def test_a_call_the_gateway_makes_itself_passes_without_claiming(saga: SagaStore) -> None:
    confine, after = Confine(saga, frozenset()), Next()
    await confine(call_by("a"), after)
    await confine(call_by("gateway", internal=True), after)
    await confine(call_by("gateway", workflow="fresh", internal=True), after)
    assert len(after.calls) == 3 and saga.owner("fresh") is None
