"""The OpenAPI document describes exactly the REST operations the gateway serves, each status with a schema."""

from __future__ import annotations

from typing import Any, cast

from starlette.routing import Route

from gateway.web import ApprovalsApi, GuardsApi, StatusApi, WorkflowsApi, openapi_route
from gateway.web.openapi import REF, openapi_document

NOTHING = cast(Any, None)  # the APIs only keep their collaborators until a request comes


def served(approvals: bool) -> set[tuple[str, str]]:
    routes: list[Route] = [openapi_route(approvals)]
    routes += ApprovalsApi(NOTHING, NOTHING, None).routes() if approvals else []
    routes += WorkflowsApi(NOTHING, NOTHING).routes()
    routes += StatusApi(NOTHING, NOTHING).routes()
    routes += GuardsApi(NOTHING, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING).routes()
    return {(method.lower(), route.path) for route in routes for method in route.methods or () if method != "HEAD"}


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [value["$ref"]] if "$ref" in value else [r for v in value.values() for r in refs(v)]
    return [r for v in value for r in refs(v)] if isinstance(value, list) else []


def test_every_served_operation_is_documented_and_no_other() -> None:
    for approvals in (True, False):
        assert documented(openapi_document(approvals)) == served(approvals)


def test_every_reference_resolves_and_every_answer_has_a_json_schema() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    assert all(ref.removeprefix(REF) in schemas for ref in refs(document))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                assert "schema" in answer["content"]["application/json"], (method, path, status)


def test_workflow_operations_document_their_refusals() -> None:
    paths = openapi_document(approvals=False)["paths"]
    rollback = paths["/api/workflows/{workflow}/rollback"]["post"]
    assert set(rollback["responses"]) == {"200", "401", "403", "404", "422"}
    assert rollback["requestBody"]["content"]["application/json"]["schema"] == {"$ref": REF + "RollbackBody"}
    assert "/api/approvals" not in paths and "/api/agents/{principal}/release" in paths
