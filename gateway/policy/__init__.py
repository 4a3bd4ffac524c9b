"""Policy: build the input, evaluate Rego (regorus or OPA), interpret the decision (fail closed).

The vocabulary and its interpretation are imported here; the rest on first use, so
`gateway.policy.document` (which approval tickets name) loads neither the manifests nor the MCP
types that building an input needs. (`interpret` is imported, not looked up: the function shares
its module's name, which a lookup would find first once the module is loaded.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazy import lazy_names
from gateway.policy.document import ApproverRule, Decision, Effect, Obligations, PolicyInput, WorkflowDoc
from gateway.policy.interpret import interpret

if TYPE_CHECKING:
    from gateway.policy.build import build_input
    from gateway.policy.engines import OpaEngine, PolicyBundle, PolicyEngine, RegorusEngine
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

_HOMES = {
    "build_input": "build",
    "OpaEngine": "engines",
    "PolicyBundle": "engines",
    "PolicyEngine": "engines",
    "RegorusEngine": "engines",
    "Evaluation": "service",
    "PolicyService": "service",
}


__getattr__ = lazy_names(__name__, _HOMES)
