"""Composition of stages into one callable chain, built once."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.pipeline.call import Call, Proceed, Result, Stage


class Pipeline:
    """Runs a call through the stages in order; each stage may answer or proceed to the next."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = list(stages)
        proceed: Proceed = _end
        for stage in reversed(self.stages):
            proceed = _link(stage, proceed)
        self._first = proceed  # composed once: nothing is built per call

    async def call(self, call: Call) -> Result:
        return await self._first(call)


def _link(stage: Stage, proceed: Proceed) -> Proceed:
    async def run(call: Call) -> Result:
        return await stage(call, proceed)

    return run


async def _end(call: Call) -> Result:
    raise RuntimeError("the last pipeline stage must answer the call")
