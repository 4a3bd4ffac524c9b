"""The call pipeline: stages composed in one ordered list, read top to bottom.

    resolve → validate → decide → forward

Ledger, approval and snapshot stages slot in between in later releases; a stage that a
configuration turns off is simply absent from the list.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.manifests import ManifestRegistry
from gateway.pipeline.call import Call, LinkSource, Result, Stage
from gateway.pipeline.chain import Pipeline
from gateway.pipeline.decide import Decide
from gateway.pipeline.forward import Forward
from gateway.pipeline.plan import Planner
from gateway.pipeline.resolve import Resolve
from gateway.pipeline.validate import Validate
from gateway.policy import PolicyService
from gateway.upstream.catalog import Catalog
from gateway.workflows import WorkflowBook

__all__ = ["Call", "LinkSource", "Pipeline", "Planner", "Result", "Stage", "Stages"]


class Stages:
    """The stage objects, built once and shared by the call pipeline and the planner."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        manifests: Callable[[], ManifestRegistry],
        policy: Callable[[], PolicyService],
        workflows: WorkflowBook,
    ) -> None:
        self.resolve = Resolve(catalog, manifests)
        self.validate = Validate()
        self.decide = Decide(policy, workflows)
        self.forward = Forward()

    def pipeline(self) -> Pipeline:
        return Pipeline([self.resolve, self.validate, self.decide, self.forward])

    def planner(self) -> Planner:
        return Planner(self.resolve, self.validate, self.decide)
