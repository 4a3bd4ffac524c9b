"""GET /api/status: the running gateway at a glance, for operators (approver tokens).

The answer is `gateway.observability.status.StatusReport`: upstreams, the approval queue,
quarantined workflows and agents, the newest refusals, the ledger and each guard's state. An
agent's token is refused (403): the report names every principal's refusals and quarantines.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.observability.status import StatusReport
from gateway.web.api import PeopleTokens
from gateway.web.replies import error


class StatusApi:
    def __init__(self, report: Callable[[], StatusReport], tokens: PeopleTokens) -> None:
        self._report = report
        self._tokens = tokens

    def routes(self) -> list[Route]:
        return [Route("/api/status", self.show, methods=["GET"])]

    async def show(self, request: Request) -> JSONResponse:
        who = self._tokens.resolve(request.headers.get("authorization"))
        if who == 401:
            return error(401, "an operator (approver) token is needed")
        if who == 403:
            return error(403, "agents cannot see the gateway's status: it names every agent's refusals")
        # The report reads the ledger and saga databases: off the event loop.
        report = await anyio.to_thread.run_sync(self._report)
        return JSONResponse(report.model_dump(mode="json"))
