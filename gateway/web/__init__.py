"""The gateway's HTTP surfaces for people: the approvals REST API and the approvals page."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.web.api import ApprovalsApi, ApproverTokens

STATIC = Path(__file__).parent / "static"

__all__ = ["ApprovalsApi", "ApproverTokens", "page_routes"]


def page_routes() -> list[Route | Mount]:
    async def page(request: object) -> FileResponse:
        return FileResponse(STATIC / "approvals.html", headers={"Cache-Control": "no-store"})

    return [
        Route("/approvals", page, methods=["GET"]),
        Mount("/approvals/static", app=StaticFiles(directory=STATIC), name="approvals-static"),
    ]
