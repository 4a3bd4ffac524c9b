"""Policy: build the input, evaluate Rego (regorus or OPA), interpret the decision (fail closed)."""

from gateway.policy.build import build_input
from gateway.policy.document import ApproverRule, Decision, Effect, Obligations, PolicyInput, WorkflowDoc
from gateway.policy.engines import OpaEngine, PolicyBundle, PolicyEngine, RegorusEngine
from gateway.policy.interpret import interpret
from gateway.policy.service import Evaluation, PolicyService

__all__ = [
    "ApproverRule",
    "Decision",
    "Effect",
    "Evaluation",
    "Obligations",
    "OpaEngine",
    "PolicyBundle",
    "PolicyEngine",
    "PolicyInput",
    "PolicyService",
    "RegorusEngine",
    "WorkflowDoc",
    "build_input",
    "interpret",
]
