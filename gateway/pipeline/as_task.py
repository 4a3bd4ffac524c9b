"""Stage 0: a 2025-11-25 client that asked for a task gets one, whatever the call's fate.

A held call's task is its approval ticket (the approve stage answers with it). Any other answer,
a result or a refusal, is stored as a task born completed, so that `tasks/get` and
`tasks/result` work on it as they do on any task the client asked for. Errors raised before an
answer exists (unknown tool, invalid arguments) stay JSON-RPC errors, as the spec has them.
"""

from __future__ import annotations

import secrets

from gateway.approvals.store import ApprovalStore
from gateway.approvals.task import ran_at_once
from gateway.clock import SYSTEM, Clock
from gateway.pipeline.call import Call, Proceed, Result, TaskSupport


class AnswerAsTask:
    def __init__(self, store: ApprovalStore, clock: Clock = SYSTEM) -> None:
        self._store = store
        self._clock = clock

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        result = await proceed(call)
        if call.task is not TaskSupport.CORE or "task" in result:
            return result
        task_id = f"task_{secrets.token_hex(8)}"
        created_at = self._clock.now().isoformat()
        self._store.add_call_task(task_id, call.context.principal.id, created_at, result)
        return {"task": ran_at_once(task_id, created_at)}
