"""The call pipeline: stages composed in one ordered list, read top to bottom.

    resolve → validate → forward

Policy, ledger, approval and snapshot stages slot in between in later releases; a stage that a
configuration turns off is simply absent from the list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.pipeline.call import Call, LinkSource, Proceed, Result, Stage
from gateway.pipeline.forward import Forward
from gateway.pipeline.resolve import Resolve
from gateway.pipeline.validate import Validate
from gateway.upstream.catalog import Catalog

__all__ = ["Call", "LinkSource", "Pipeline", "Result", "Stage", "default_stages"]


def default_stages(catalog: Callable[[], Catalog]) -> list[Stage]:
    return [Resolve(catalog), Validate(), Forward()]


class Pipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = list(stages)

    async def call(self, call: Call) -> Result:
        return await self._run(0, call)

    async def _run(self, index: int, call: Call) -> Result:
        stage = self.stages[index]
        if index + 1 == len(self.stages):
            return await stage(call, _end)
        return await stage(call, lambda c: self._run(index + 1, c))


async def _end(call: Call) -> Result:
    raise RuntimeError("the last pipeline stage must answer the call")


_: Proceed = _end
