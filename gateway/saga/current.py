"""The current workflow of each principal, for calls that name none and have no session.

A 2026-07-28 client (the SDK `Client` by default) sends no session and, unless its code says so,
no `_meta["rollgate/workflow"]`. Its calls join its principal's current workflow, so that "roll back
what my agent just did" undoes them. The current workflow starts with the first such call, is
replaced by `rollgate_begin_workflow`, and ends after `[workflows] idle_seconds` without a call or
once it is rolled back as a whole. It is kept in this process only: after a restart the next call
starts a new one (the old one's steps stay in the saga store, to be rolled back by id).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from gateway.saga.model import WorkflowStatus
from gateway.saga.store import SagaStore


class CurrentWorkflows:
    def __init__(self, idle_seconds: float, saga: SagaStore, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle_seconds
        self._saga = saga
        self._clock = clock
        self._current: dict[str, tuple[str, float]] = {}

    def of(self, principal: str) -> str:
        """The principal's current workflow id, a new one when it has none that is still going."""
        now = self._clock()
        known = self._current.get(principal)
        if known is not None:
            workflow, last = known
            if now - last <= self._idle and self._saga.status(workflow)[0] is not WorkflowStatus.ROLLED_BACK:
                self._current[principal] = (workflow, now)
                return workflow
        workflow = new_workflow_id()
        self._current[principal] = (workflow, now)
        return workflow

    def start(self, principal: str, workflow: str) -> None:
        """`rollgate_begin_workflow`: the new workflow becomes the principal's current one."""
        self._current[principal] = (workflow, self._clock())


def new_workflow_id() -> str:
    return f"wf_{secrets.token_hex(8)}"
