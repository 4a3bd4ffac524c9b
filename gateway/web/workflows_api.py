"""Workflow operations over REST for operators (approver tokens): status, rollback, quarantine.

GET  /api/workflows/{id}
POST /api/workflows/{id}/rollback     {"to_checkpoint"? , "steps"?, "resource"?, "dry_run"?}
POST /api/workflows/{id}/quarantine   {"reason"}
POST /api/workflows/{id}/release      {}
POST /api/agents/{id}/quarantine      {"reason"}   (every call of that principal, any workflow)
POST /api/agents/{id}/release         {}

A workflow nothing was recorded of, an agent neither configured nor seen, and a rollback naming a
step, checkpoint or resource its workflow does not have are 404s (NotFoundError); a selection that
is empty or mixed is a 422. The statuses are those of `openapi.py`.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.saga.model import rollback_scope
from gateway.saga.service import Workflows
from gateway.web.operators import Operators
from gateway.web.replies import refusals
from gateway.web.workflow_views import AgentView, QuarantineBody, ReleaseBody, RollbackBody, WorkflowView


class WorkflowsApi:
    def __init__(self, workflows: Workflows, operators: Operators, agents: Collection[str] = ()) -> None:
        self._workflows = workflows
        self._operators = operators
        self._agents = frozenset(agents)
        """The principals the configuration names, known before their first call."""

    def routes(self) -> list[Route]:
        return [
            Route("/api/workflows/{workflow}", refusals(self.show), methods=["GET"]),
            Route("/api/workflows/{workflow}/rollback", refusals(self.rollback), methods=["POST"]),
            Route("/api/workflows/{workflow}/quarantine", refusals(self.quarantine), methods=["POST"]),
            Route("/api/workflows/{workflow}/release", refusals(self.release), methods=["POST"]),
            Route("/api/agents/{principal}/quarantine", refusals(self.quarantine_agent), methods=["POST"]),
            Route("/api/agents/{principal}/release", refusals(self.release_agent), methods=["POST"]),
        ]

    async def show(self, request: Request) -> JSONResponse:
        who = await self._operators.who(request, "read a workflow")
        return who if isinstance(who, JSONResponse) else self._status(request.path_params["workflow"])

    async def rollback(self, request: Request) -> JSONResponse:
        asked = await self._operators.body(request, RollbackBody, "roll back a workflow")
        if isinstance(asked, JSONResponse):
            return asked
        _, body = asked
        scope, selection = rollback_scope(body.model_dump(exclude={"dry_run"}))
        report = await self._workflows.rollback(
            request.path_params["workflow"], scope, dry_run=body.dry_run, **selection
        )
        return JSONResponse(report.model_dump(mode="json"))

    async def quarantine(self, request: Request) -> JSONResponse:
        workflow = request.path_params["workflow"]
        asked = await self._operators.body(request, QuarantineBody, "quarantine a workflow")
        if isinstance(asked, JSONResponse):
            return asked
        who, body = asked
        self._workflows.require(workflow)
        await self._workflows.quarantine(workflow, f"{body.reason} (by {who.id})")
        return self._status(workflow)

    async def release(self, request: Request) -> JSONResponse:
        workflow = request.path_params["workflow"]
        asked = await self._operators.body(request, ReleaseBody, "release a workflow")
        if isinstance(asked, JSONResponse):
            return asked
        self._workflows.require(workflow)
        await self._workflows.release(workflow, asked[0].id)
        return self._status(workflow)

    async def quarantine_agent(self, request: Request) -> JSONResponse:
        """Quarantine a principal: its calls in every workflow are refused until released."""
        principal = request.path_params["principal"]
        asked = await self._operators.body(request, QuarantineBody, "quarantine an agent")
        if isinstance(asked, JSONResponse):
            return asked
        who, body = asked
        self._workflows.require_principal(principal, self._agents)
        await self._workflows.quarantine_principal(principal, f"{body.reason} (by {who.id})")
        return JSONResponse(AgentView(principal=principal, status="quarantined").model_dump(mode="json"))

    async def release_agent(self, request: Request) -> JSONResponse:
        principal = request.path_params["principal"]
        asked = await self._operators.body(request, ReleaseBody, "release an agent")
        if isinstance(asked, JSONResponse):
            return asked
        self._workflows.require_principal(principal, self._agents)
        await self._workflows.release_principal(principal, asked[0].id)
        return JSONResponse(AgentView(principal=principal, status="active").model_dump(mode="json"))

    def _status(self, workflow: str) -> JSONResponse:
        self._workflows.require(workflow)
        return JSONResponse(WorkflowView.model_validate(self._workflows.status(workflow)).model_dump(mode="json"))
