"""Workflow operations over REST for operators (approver tokens): status, rollback, quarantine.

GET  /api/workflows/{id}
POST /api/workflows/{id}/rollback     {"to_checkpoint"? , "steps"?, "resource"?, "dry_run"?}
POST /api/workflows/{id}/quarantine   {"reason"}
POST /api/workflows/{id}/release      {}
POST /api/agents/{id}/quarantine      {"reason"}   (every call of that principal, any workflow)
POST /api/agents/{id}/release         {}
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.saga.service import Workflows
from gateway.server.metatools import rollback_scope
from gateway.web.api import ApproverTokens, _error


class WorkflowsApi:
    def __init__(self, workflows: Workflows, tokens: ApproverTokens) -> None:
        self._workflows = workflows
        self._tokens = tokens

    def routes(self) -> list[Route]:
        return [
            Route("/api/workflows/{workflow}", self.show, methods=["GET"]),
            Route("/api/workflows/{workflow}/rollback", self.rollback, methods=["POST"]),
            Route("/api/workflows/{workflow}/quarantine", self.quarantine, methods=["POST"]),
            Route("/api/workflows/{workflow}/release", self.release, methods=["POST"]),
            Route("/api/agents/{principal}/quarantine", self.quarantine_agent, methods=["POST"]),
            Route("/api/agents/{principal}/release", self.release_agent, methods=["POST"]),
        ]

    async def quarantine_agent(self, request: Request) -> JSONResponse:
        """Quarantine a principal: its calls in every workflow are refused until released."""
        reason = await self._reason(request)
        if isinstance(reason, JSONResponse):
            return reason
        principal = request.path_params["principal"]
        await self._workflows.quarantine_principal(principal, reason)
        return JSONResponse({"principal": principal, "status": "quarantined"})

    async def release_agent(self, request: Request) -> JSONResponse:
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        principal = request.path_params["principal"]
        await self._workflows.release_principal(principal, str(body["_who"]))
        return JSONResponse({"principal": principal, "status": "active"})

    async def _body(self, request: Request) -> dict[str, Any] | JSONResponse:
        who = self._tokens.resolve(request.headers.get("authorization"))
        if who in (401, 403):
            return _error(int(who), "an operator (approver) token is needed" if who == 401 else "agents cannot do this")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(422, "body is not JSON")
        if not isinstance(body, dict):
            return _error(422, "body must be a JSON object")
        body["_who"] = who.id  # type: ignore[union-attr]
        return body

    async def _reason(self, request: Request) -> str | JSONResponse:
        """A quarantine's reason, with who gave it; the error response when there is none."""
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason:
            return _error(422, "quarantine needs a reason")
        return f"{reason} (by {body['_who']})"

    async def show(self, request: Request) -> JSONResponse:
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        return JSONResponse(self._workflows.status(request.path_params["workflow"]))

    async def rollback(self, request: Request) -> JSONResponse:
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        assert self._workflows.rollbacks is not None
        try:
            scope, selection = rollback_scope(body)
            report = await self._workflows.rollbacks.run(
                request.path_params["workflow"], scope, dry_run=bool(body.get("dry_run")), **selection
            )
        except ValueError as exc:
            return _error(422, str(exc))
        return JSONResponse(report.model_dump(mode="json"))

    async def quarantine(self, request: Request) -> JSONResponse:
        reason = await self._reason(request)
        if isinstance(reason, JSONResponse):
            return reason
        await self._workflows.quarantine(request.path_params["workflow"], reason)
        return JSONResponse(self._workflows.status(request.path_params["workflow"]))

    async def release(self, request: Request) -> JSONResponse:
        body = await self._body(request)
        if isinstance(body, JSONResponse):
            return body
        await self._workflows.release(request.path_params["workflow"], str(body["_who"]))
        return JSONResponse(self._workflows.status(request.path_params["workflow"]))
