"""GET /api/status: the running gateway at a glance, for operators (approver tokens).

The answer is `gateway.observability.status.StatusReport`: upstreams, the approval queue,
quarantined workflows and agents, the newest refusals, the ledger and each guard's state. An
agent's token is refused (403, recorded): the report names every principal's refusals and
quarantines.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.observability.status import StatusReport
from gateway.web.operators import Operators


class StatusApi:
    def __init__(self, report: Callable[[], StatusReport], operators: Operators) -> None:
        self._report = report
        self._operators = operators

    def routes(self) -> list[Route]:
        return [Route("/api/status", self.show, methods=["GET"])]

    async def show(self, request: Request) -> JSONResponse:
        who = await self._operators.who(request, "read the gateway's status (it names every agent's refusals)")
        if isinstance(who, JSONResponse):
            return who
        # The report reads the ledger and saga databases: off the event loop.
        report = await anyio.to_thread.run_sync(self._report)
        return JSONResponse(report.model_dump(mode="json"))
