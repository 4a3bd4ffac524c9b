"""The call pipeline: stages composed in one ordered list, read top to bottom.

    resolve → validate → decide → forward

Ledger, approval and snapshot stages slot in between in later releases; a stage that a
configuration turns off is simply absent from the list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.manifests import ManifestRegistry
from gateway.pipeline.call import Call, LinkSource, Proceed, Result, Stage
from gateway.pipeline.decide import Decide
from gateway.pipeline.forward import Forward
from gateway.pipeline.resolve import Resolve
from gateway.pipeline.validate import Validate
from gateway.policy import PolicyService
from gateway.upstream.catalog import Catalog
from gateway.workflows import WorkflowBook

__all__ = ["Call", "LinkSource", "Pipeline", "Result", "Stage", "default_stages"]


def default_stages(
    catalog: Callable[[], Catalog],
    manifests: Callable[[], ManifestRegistry],
    policy: Callable[[], PolicyService],
    workflows: WorkflowBook,
) -> list[Stage]:
    return [Resolve(catalog, manifests), Validate(), Decide(policy, workflows), Forward()]


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
