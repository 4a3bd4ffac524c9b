"""Stage 1b: a call acts only on a workflow of its own principal.

A workflow belongs to the principal that first used it (`SagaStore.claim`). Another agent's call
naming it (`_meta["rollgate/workflow"]`) is refused before anything else happens, and the refusal
is ledgered by `RecordOutcome` like any rejected call. Agents sharing a role listed in
`[workflows] shared_roles` form a team and may act on each other's workflows. Calls the gateway
makes itself (compensations, verification reads) act for the owner and pass.
"""

from __future__ import annotations

from gateway.pipeline.call import Call, Proceed, Result
from gateway.saga.store import SagaStore


class Confine:
    def __init__(self, saga: SagaStore, shared_roles: frozenset[str]) -> None:
        self._saga = saga
        self._shared = shared_roles

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        context = call.context
        if not context.internal:
            principal = context.principal
            self._saga.authorize(context.workflow_id, principal.id, principal.roles, self._shared)
        return await proceed(call)
