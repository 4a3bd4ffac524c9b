"""The OpenAPI 3.1 document of the REST API under /api, served at /api/openapi.json.

Every operation the gateway serves (the approvals API only when approvals are on), with its path
parameters, body, bearer security and every status it answers, errors included, each with its
JSON Schema. The schemas are the pydantic models' own, one `components/schemas` entry each, so the
document describes what is validated and sent; tests/e2e/test_openapi.py holds the running
gateway to it with schemathesis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.approvals.ticket import State
from gateway.observability.status import StatusReport
from gateway.saga.rollback import RollbackReport
from gateway.web.guard_views import AcceptBody, AcceptedView, PinsState, ResumeBody, StopAnswer, StopBody, StopState
from gateway.web.views import ApprovalList, ApproveBody, DenyBody, ErrorBody, TicketDetail, TicketView
from gateway.web.workflow_views import AgentView, QuarantineBody, ReleaseBody, RollbackBody, WorkflowView

REF = "#/components/schemas/"
_PATH_PARAMETER = re.compile(r"{(\w+)}")
_SEGMENT = "^[^/]*[^/.][^/]*$"
"""A path parameter is one segment, as Starlette's `{name}` matches it, and not a dot segment
(`.`, `..`), which clients resolve away (RFC 3986 §5.2.4) before the request leaves."""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    answer: type[BaseModel]
    errors: dict[int, str]
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: list[dict[str, Any]] = field(default_factory=list)


_TOKEN = {401: "no token, or not an approver's (operator's)", 403: "an agent's token"}
_BODY = "the body is not JSON, or not the operation's schema (the message names the first problem)"

APPROVALS = [
    Operation(
        "get",
        "/api/approvals",
        "List approvals, newest first",
        ApprovalList,
        {400: "an unknown state", **_TOKEN},
        query=[{"name": "state", "in": "query", "required": False, "schema": {"enum": [s.value for s in State]}}],
    ),
    Operation(
        "get",
        "/api/approvals/{ticket_id}",
        "One approval, with its workflow's timeline",
        TicketDetail,
        {**_TOKEN, 404: "no such approval"},
    ),
    *(
        Operation(
            "post",
            f"/api/approvals/{{ticket_id}}/{verb}",
            verb.capitalize() + " a held call",
            TicketView,
            {
                **_TOKEN,
                403: "an agent's token, the approver's own request, or a role the rules do not ask for",
                404: "no such approval",
                409: "already decided or expired, or no longer the call that was held",
                422: _BODY,
            },
            body=body,
        )
        for verb, body in (("approve", ApproveBody), ("deny", DenyBody))
    ),
]

_NO_WORKFLOW = "nothing was ever recorded of this workflow"
WORKFLOWS = [
    Operation(
        "get",
        "/api/workflows/{workflow}",
        "A workflow's status, steps and checkpoints",
        WorkflowView,
        {**_TOKEN, 404: _NO_WORKFLOW},
    ),
    Operation(
        "post",
        "/api/workflows/{workflow}/rollback",
        "Undo a workflow's steps, newest first: all, after a checkpoint, named steps or one resource's",
        RollbackReport,
        {
            **_TOKEN,
            404: _NO_WORKFLOW + ", or it has no such step, checkpoint or resource (nothing is undone)",
            422: _BODY + "; or more than one of to_checkpoint, steps, resource",
        },
        body=RollbackBody,
        body_required=False,
    ),
    Operation(
        "post",
        "/api/workflows/{workflow}/quarantine",
        "Refuse the workflow's calls until it is released",
        WorkflowView,
        {**_TOKEN, 404: _NO_WORKFLOW, 422: _BODY},
        body=QuarantineBody,
    ),
    Operation(
        "post",
        "/api/workflows/{workflow}/release",
        "Release a quarantined workflow",
        WorkflowView,
        {**_TOKEN, 404: _NO_WORKFLOW, 422: _BODY},
        body=ReleaseBody,
        body_required=False,
    ),
    *(
        Operation(
            "post",
            f"/api/agents/{{principal}}/{verb}",
            summary,
            AgentView,
            {**_TOKEN, 404: "an agent that is not configured and was never seen", 422: _BODY},
            body=body,
            body_required=verb == "quarantine",
        )
        for verb, summary, body in (
            ("quarantine", "Refuse every call of an agent, in any workflow, until it is released", QuarantineBody),
            ("release", "Release a quarantined agent", ReleaseBody),
        )
    ),
]

_NO_AGENT = "an agent that is not configured and was never seen"
GUARDS = [
    Operation("get", "/api/stop", "The kill switch: who is stopped, by whom, since when, why", StopState, _TOKEN),
    *(
        Operation(
            "post",
            f"/api/{verb}",
            summary,
            StopAnswer,
            {**_TOKEN, 404: _NO_AGENT, 422: _BODY + '; or not exactly one of "all": true and "agent"'},
            body=body,
        )
        for verb, summary, body in (
            ("stop", "Refuse every new call of all agents, or of one, at once (in-flight calls finish)", StopBody),
            ("resume", "Lift the stop of all agents, or of one", ResumeBody),
        )
    ),
    Operation(
        "get",
        "/api/tools/changed",
        "Tools held because their definition changed: pinned and new digests, definitions, what changed",
        PinsState,
        _TOKEN,
    ),
    Operation(
        "post",
        "/api/tools/{server}/{tool}/accept",
        "Accept a held tool's new definition: it is pinned, listed, and its calls may run again",
        AcceptedView,
        {
            **_TOKEN,
            404: "the tool has no changed definition waiting",
            409: "the digest given is no longer the held one",
            422: _BODY,
        },
        body=AcceptBody,
        body_required=False,
    ),
]


STATUS = [
    Operation(
        "get",
        "/api/status",
        "The running gateway: upstreams, approval queue, quarantines, recent refusals, ledger, guards",
        StatusReport,
        {**_TOKEN},
    ),
]


def openapi_document(approvals: bool = True) -> dict[str, Any]:
    operations = [*(APPROVALS if approvals else []), *WORKFLOWS, *STATUS, *GUARDS]
    answers = {op.answer for op in operations} | {ErrorBody}
    bodies = {op.body for op in operations if op.body is not None}
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "serialization") for m in answers]
    models += [(m, "validation") for m in bodies]
    models.sort(key=lambda m: m[0].__name__)
    _, definitions = models_json_schema(models, ref_template=REF + "{model}")
    paths: dict[str, dict[str, Any]] = {
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
            }
        }
    }
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Rollgate",
            "version": "1",
            "description": "Approvals, workflow operations, the kill switch and tool definitions.",
        },
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"approver": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"approver": []}],
        "paths": paths,
    }


def _operation(op: Operation) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": _SEGMENT}}
        for name in _PATH_PARAMETER.findall(op.path)
    ]
    document: dict[str, Any] = {
        "summary": op.summary,
        "parameters": parameters + op.query,
        "responses": {
            "200": _json("OK", {"$ref": REF + op.answer.__name__}),
            **{str(status): _error(status, why) for status, why in sorted(op.errors.items())},
        },
    }
    if op.body is not None:
        document["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": {"$ref": REF + op.body.__name__}}},
        }
    return document


def _error(status: int, why: str) -> dict[str, Any]:
    answer = _json(why, {"$ref": REF + ErrorBody.__name__})
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return answer


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_route(approvals: bool) -> Route:
    document = openapi_document(approvals)

    async def serve(request: Request) -> JSONResponse:
        return JSONResponse(document)

    return Route("/api/openapi.json", serve, methods=["GET"])
