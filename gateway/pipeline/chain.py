"""Composition of stages into one callable chain, built once."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from gateway.pipeline.call import Call, Proceed, Result, Stage

if TYPE_CHECKING:
    from gateway.observability import Observability


class Pipeline:
    """Runs a call through the stages in order; each stage may answer or proceed to the next.

    With `observability`, every stage but the observing one (`observe.Observe`, at the head) is
    linked through `observe.watched`: timed, and traced when spans are recorded."""

    def __init__(self, stages: Sequence[Stage], observability: Observability | None = None) -> None:
        self.stages = list(stages)
        proceed: Proceed = _end
        for stage in reversed(self.stages):
            proceed = _link(stage, proceed, observability)
        self._first = proceed  # composed once: nothing is built per call

    async def call(self, call: Call) -> Result:
        return await self._first(call)


def _link(stage: Stage, proceed: Proceed, observability: Observability | None = None) -> Proceed:
    if observability is not None:
        from gateway.pipeline.observe import Observe, watched

        if not isinstance(stage, Observe):
            return watched(stage, proceed, observability)

    def run(call: Call) -> Awaitable[Result]:
        # Not a coroutine of its own: the stage's coroutine is awaited directly, so a suspended call
        # is resumed through one frame per stage rather than two.
        return stage(call, proceed)

    return run


async def _end(call: Call) -> Result:
    raise RuntimeError("the last pipeline stage must answer the call")
