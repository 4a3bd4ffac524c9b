"""`Pipeline` (`gateway/pipeline/chain.py`): stages run in list order, each may answer or proceed."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.models import CallContext, Principal
from gateway.pipeline import Call, Pipeline
from gateway.pipeline.call import Proceed

pytestmark = pytest.mark.anyio


def a_call() -> Call:
    return Call(context=CallContext(Principal("p"), "t", {}, "wf", None, "c"), links=None)  # type: ignore[arg-type]


class Mark:
    """Records its name on the way in and out, and answers when told to."""

    def __init__(self, name: str, seen: list[str], answer: dict[str, Any] | None = None) -> None:
        self.name, self.seen, self.answer = name, seen, answer

    async def __call__(self, call: Call, proceed: Proceed) -> dict[str, Any]:
        self.seen.append(f"{self.name}>")
        result = self.answer if self.answer is not None else await proceed(call)
        self.seen.append(f"<{self.name}")
        return {**result, "via": [*result.get("via", []), self.name]}


async def test_stages_run_in_order_and_unwind_in_reverse() -> None:
    seen: list[str] = []
    pipeline = Pipeline([Mark("a", seen), Mark("b", seen), Mark("c", seen, answer={"ok": True})])
    result = await pipeline.call(a_call())
    assert seen == ["a>", "b>", "c>", "<c", "<b", "<a"]
    assert result == {"ok": True, "via": ["c", "b", "a"]}


async def test_a_stage_that_answers_stops_the_stages_after_it() -> None:
    seen: list[str] = []
    pipeline = Pipeline([Mark("a", seen, answer={"denied": True}), Mark("b", seen, answer={})])
    assert await pipeline.call(a_call()) == {"denied": True, "via": ["a"]}
    assert seen == ["a>", "<a"]


async def test_a_call_that_falls_off_the_end_is_an_error_not_a_silent_empty_answer() -> None:
    with pytest.raises(RuntimeError, match="last pipeline stage must answer"):
        await Pipeline([Mark("a", [])]).call(a_call())
    with pytest.raises(RuntimeError, match="last pipeline stage must answer"):
        await Pipeline([]).call(a_call())


async def test_the_chain_is_composed_once_so_later_changes_to_the_input_list_do_not_apply() -> None:
    seen: list[str] = []
    stages = [Mark("a", seen, answer={})]
    pipeline = Pipeline(stages)
    stages.insert(0, Mark("late", seen, answer={}))
    await pipeline.call(a_call())
    assert seen == ["a>", "<a"] and [s.name for s in pipeline.stages] == ["a"]  # type: ignore[attr-defined]
