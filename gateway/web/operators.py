"""Who asks an operator's endpoint: a person's bearer token, or the refusal to answer.

Every operator surface (workflows and agents, the kill switch and tool definitions, the status
report) asks here. No token or an unknown one is a 401, not recorded (anyone on the network could
fill the ledger); an agent's token is a 403, recorded as `operator.refused` naming the agent and
what it tried, as the trust model asks of every refused action.
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.ledger.events import OperatorRefused, Record
from gateway.models import Principal
from gateway.web.api import PeopleTokens
from gateway.web.replies import Body, error, read_body


class OperatorTokens(PeopleTokens, Protocol):
    def agent(self, header: str | None) -> Principal | None:
        """The agent whose token the header carries, if it is an agent's."""
        ...


class Operators:
    def __init__(self, tokens: OperatorTokens, record: Record | None = None) -> None:
        self._tokens = tokens
        self._record = record

    async def who(self, request: Request, action: str) -> Principal | JSONResponse:
        """The person asking for `action`, or the 401/403 to answer."""
        header = request.headers.get("authorization")
        who = self._tokens.resolve(header)
        if who == 401:
            return error(401, "an operator (approver) token is needed")
        if who == 403:
            if self._record is not None:
                agent = self._tokens.agent(header)
                await self._record(
                    OperatorRefused(
                        action=action,
                        status=403,
                        reason="an agent's token cannot act as an operator",
                        principal=agent.id if agent else None,
                    )
                )
            return error(403, f"agents cannot {action}")
        assert isinstance(who, Principal)
        return who

    async def body(self, request: Request, model: type[Body], action: str) -> tuple[Principal, Body] | JSONResponse:
        """The operator and the request's body, or the 401/403/422 to answer (in that order)."""
        who = await self.who(request, action)
        if isinstance(who, JSONResponse):
            return who
        body = await read_body(request, model)
        return body if isinstance(body, JSONResponse) else (who, body)
