"""The gateway's HTTP surfaces for people: the REST API under /api (approvals, workflows, agents,
the kill switch and tool definitions; described at /api/openapi.json) and the approvals page."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.web.api import ApprovalsApi, PeopleTokens
from gateway.web.guards_api import GuardsApi
from gateway.web.openapi import openapi_route
from gateway.web.replies import http_error
from gateway.web.status_api import StatusApi
from gateway.web.workflows_api import WorkflowsApi

STATIC = Path(__file__).parent / "static"

__all__ = [
    "ApprovalsApi",
    "GuardsApi",
    "PeopleTokens",
    "StatusApi",
    "WorkflowsApi",
    "http_error",
    "openapi_route",
    "page_routes",
]


def page_routes() -> list[Route | Mount]:
    async def page(request: object) -> FileResponse:
        return FileResponse(STATIC / "approvals.html", headers={"Cache-Control": "no-store"})

    return [
        Route("/approvals", page, methods=["GET"]),
        Mount("/approvals/static", app=StaticFiles(directory=STATIC), name="approvals-static"),
    ]
