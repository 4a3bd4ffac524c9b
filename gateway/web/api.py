"""The approvals REST API under /api (OpenAPI at /api/openapi.json), for approvers only.

Approvers authenticate with their own bearer tokens; an agent's token is refused (403), so the
identity that asked for a call can never approve it. Errors are JSON `{"error": ...}` with the
status of the ApprovalError behind them (404 unknown, 403 not allowed, 409 already decided).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.ticket import ApprovalError, NotFound, State
from gateway.config import Config, hash_token
from gateway.ledger.timeline import timeline
from gateway.models import Principal
from gateway.store.base import LedgerStore
from gateway.web.views import ApproveBody, DenyBody, ErrorBody, TicketDetail, TicketView, view


class ApproverTokens:
    def __init__(self, config: Config) -> None:
        self._approvers = {a.token_sha256: Principal(a.id, frozenset(a.roles)) for a in config.approvers}
        self._agents = {a.token_sha256 for a in config.agents}

    def resolve(self, header: str | None) -> Principal | int:
        """The approver, or the HTTP status to answer: 401 no/unknown token, 403 an agent's token."""
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return 401
        digest = hash_token(token.strip())
        for known, principal in self._approvers.items():
            if hmac.compare_digest(known, digest):
                return principal
        return 403 if digest in self._agents else 401


def _error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="rollgate-approvals"'} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class ApprovalsApi:
    def __init__(self, queue: ApprovalQueue, tokens: ApproverTokens, ledger: LedgerStore | None) -> None:
        self._queue = queue
        self._tokens = tokens
        self._ledger = ledger

    def routes(self) -> list[Route]:
        return [
            Route("/api/openapi.json", self.openapi, methods=["GET"]),
            Route("/api/approvals", self.list, methods=["GET"]),
            Route("/api/approvals/{ticket_id}", self.show, methods=["GET"]),
            Route("/api/approvals/{ticket_id}/approve", self.approve, methods=["POST"]),
            Route("/api/approvals/{ticket_id}/deny", self.deny, methods=["POST"]),
        ]

    def _who(self, request: Request) -> Principal | JSONResponse:
        who = self._tokens.resolve(request.headers.get("authorization"))
        if who == 401:
            return _error(401, "missing or invalid approver token")
        if who == 403:
            return _error(403, "an agent's token cannot act on approvals")
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
            return _error(400, f"unknown state {state_name!r}; one of {[s.value for s in State]}")
        tickets = self._queue.store.list(state)
        return JSONResponse({"approvals": [view(t).model_dump(mode="json") for t in tickets]})

    async def show(self, request: Request) -> JSONResponse:
        who = self._who(request)
        if isinstance(who, JSONResponse):
            return who
        ticket = self._queue.store.get(request.path_params["ticket_id"])
        if ticket is None:
            return _error(404, f"no approval {request.path_params['ticket_id']!r}")
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
        try:
            raw: Any = json.loads(await request.body() or b"{}")
            text = ApproveBody.model_validate(raw).comment if approved else DenyBody.model_validate(raw).reason
        except (ValueError, ValidationError) as exc:
            detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "body is not JSON"
            return _error(422, f"invalid body: {detail}" + ("" if approved else " (deny needs a non-empty reason)"))
        try:
            ticket = self._queue.decide(request.path_params["ticket_id"], who, approved=approved, text=text)
        except NotFound as exc:
            return _error(404, str(exc))
        except ApprovalError as exc:
            return _error(exc.status, str(exc))
        return JSONResponse(view(ticket).model_dump(mode="json"))

    async def openapi(self, request: Request) -> JSONResponse:
        return JSONResponse(openapi_document())


def openapi_document() -> dict[str, Any]:
    ref = "#/components/schemas/"
    errors = {
        str(code): {"description": text, "content": {"application/json": {"schema": {"$ref": ref + "ErrorBody"}}}}
        for code, text in (
            (401, "no or unknown approver token"),
            (403, "not allowed (agent token, own request, missing role)"),
            (404, "unknown approval"),
            (409, "already decided"),
        )
    }

    def ok(schema: str) -> dict[str, Any]:
        return {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref + schema}}}},
            **errors,
        }

    def body(schema: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {"$ref": ref + schema}}}}

    ticket_id = [{"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    schemas = {
        model.__name__: model.model_json_schema(ref_template=ref + "{model}")
        for model in (TicketView, TicketDetail, ApproveBody, DenyBody, ErrorBody)
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Rollgate approvals", "version": "1"},
        "components": {"schemas": schemas, "securitySchemes": {"approver": {"type": "http", "scheme": "bearer"}}},
        "security": [{"approver": []}],
        "paths": {
            "/api/approvals": {
                "get": {
                    "summary": "List approvals",
                    "parameters": [
                        {
                            "name": "state",
                            "in": "query",
                            "required": False,
                            "schema": {"enum": [s.value for s in State]},
                        }
                    ],
                    "responses": {"200": {"description": "OK"}, **errors},
                }
            },
            "/api/approvals/{ticket_id}": {
                "get": {
                    "summary": "One approval with its workflow's timeline",
                    "parameters": ticket_id,
                    "responses": ok("TicketDetail"),
                }
            },
            "/api/approvals/{ticket_id}/approve": {
                "post": {
                    "summary": "Approve",
                    "parameters": ticket_id,
                    "requestBody": body("ApproveBody"),
                    "responses": ok("TicketView"),
                }
            },
            "/api/approvals/{ticket_id}/deny": {
                "post": {
                    "summary": "Deny",
                    "parameters": ticket_id,
                    "requestBody": body("DenyBody"),
                    "responses": ok("TicketView"),
                }
            },
        },
    }
