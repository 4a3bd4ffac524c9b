"""The approvals REST API under /api (OpenAPI at /api/openapi.json), for approvers only.

Approvers authenticate with their own bearer tokens; an agent's token is refused (403), so the
identity that asked for a call can never approve it. Errors are JSON `{"error": ...}` with the
status of the ApprovalError behind them (404 unknown, 403 not allowed, 409 already decided), or
422 for a body that is not the operation's model.
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.ticket import State
from gateway.approvals.view import view
from gateway.errors import ApprovalError
from gateway.ledger.timeline import timeline
from gateway.models import Principal
from gateway.store.base import LedgerStore
from gateway.web.replies import error, read_body
from gateway.web.views import ApprovalList, ApproveBody, DenyBody, TicketDetail


class PeopleTokens(Protocol):
    """The check of a person's bearer token, passed in by the server (`server.auth.ApproverTokens`)."""

    def resolve(self, header: str | None) -> Principal | int:
        """The person, or the HTTP status to answer: 401 no or an unknown token, 403 an agent's."""
        ...


class ApprovalsApi:
    def __init__(self, queue: ApprovalQueue, tokens: PeopleTokens, ledger: LedgerStore | None) -> None:
        self._queue = queue
        self._tokens = tokens
        self._ledger = ledger

    def routes(self) -> list[Route]:
        return [
            Route("/api/approvals", self.list, methods=["GET"]),
            Route("/api/approvals/{ticket_id}", self.show, methods=["GET"]),
            Route("/api/approvals/{ticket_id}/approve", self.approve, methods=["POST"]),
            Route("/api/approvals/{ticket_id}/deny", self.deny, methods=["POST"]),
        ]

    def _who(self, request: Request) -> Principal | JSONResponse:
        who = self._tokens.resolve(request.headers.get("authorization"))
        if who == 401:
            return error(401, "missing or invalid approver token")
        if who == 403:
            return error(403, "an agent's token cannot act on approvals")
        assert isinstance(who, Principal)
        return who

    async def list(self, request: Request) -> JSONResponse:
        who = self._who(request)
        if isinstance(who, JSONResponse):
            return who
        state_name = request.query_params.get("state")
        try:
            state = State(state_name) if state_name else None
        except ValueError:
            return error(400, f"unknown state {state_name!r}; one of {[s.value for s in State]}")
        tickets = self._queue.store.list(state)
        return JSONResponse(ApprovalList(approvals=[view(t) for t in tickets]).model_dump(mode="json"))

    async def show(self, request: Request) -> JSONResponse:
        who = self._who(request)
        if isinstance(who, JSONResponse):
            return who
        ticket = self._queue.store.get(request.path_params["ticket_id"])
        if ticket is None:
            return error(404, f"no approval {request.path_params['ticket_id']!r}")
        story = list(timeline(self._ledger.rows(workflow=ticket.workflow))) if self._ledger else []
        detail = TicketDetail(**view(ticket).model_dump(), timeline=story[-100:])
        return JSONResponse(detail.model_dump(mode="json"))

    async def approve(self, request: Request) -> JSONResponse:
        return await self._decide(request, approved=True)

    async def deny(self, request: Request) -> JSONResponse:
        return await self._decide(request, approved=False)

    async def _decide(self, request: Request, *, approved: bool) -> JSONResponse:
        who = self._who(request)
        if isinstance(who, JSONResponse):
            return who
        body = await read_body(request, ApproveBody) if approved else await read_body(request, DenyBody)
        if isinstance(body, JSONResponse):
            return body
        text = body.comment if isinstance(body, ApproveBody) else body.reason
        try:
            ticket = self._queue.decide(request.path_params["ticket_id"], who, approved=approved, text=text)
        except ApprovalError as exc:  # NotFound 404, not allowed 403, already decided 409
            return error(exc.status, str(exc))
        return JSONResponse(view(ticket).model_dump(mode="json"))
