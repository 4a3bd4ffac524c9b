"""The REST API keeps to its OpenAPI document: schemathesis, loading /api/openapi.json from a running
gateway, finds no 500 and no status, content type or body the document does not describe.

Bounded: per operation, positive examples with generated ids (mostly unknown ones: the 404s),
positive and negative examples against a real workflow, approval and agent (the 200s, 409s and 422s).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import APPROVER_TOKEN, DEFAULT_POLICIES, TOKEN
from tests.e2e.helpers import decision_of, http_client
from tests.e2e.test_approvals import demo, funded_accounts

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPERATOR = {"Authorization": f"Bearer {APPROVER_TOKEN}"}


async def real_objects(url: str) -> dict[str, str]:
    """A workflow with steps and a checkpoint, and a held call waiting for approval in it."""
    async with http_client(url, TOKEN) as agent:
        workflow = (await agent.call_tool("rollgate_begin_workflow", {})).structured_content["workflow_id"]
        meta = {"rollgate/workflow": workflow}
        await agent.call_tool("rollgate_checkpoint", {"label": "start"}, meta=meta)
        source, target = await funded_accounts(_In(agent, meta))
        held = await agent.call_tool(
            "demo__transfer", {"from_account_id": source, "to_account_id": target, "amount_cents": 5}, meta=meta
        )
    return {
        "workflow": workflow,
        "ticket_id": decision_of(held)["approval_id"],
        "principal": "agent-one",
        "server": "demo",  # a real tool, pinned and not held: accepting it is a 404
        "tool": "transfer",
    }


class _In:
    """An MCP client whose calls all join one workflow."""

    def __init__(self, client: Any, meta: dict[str, str]) -> None:
        self._client, self._meta = client, meta

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        return await self._client.call_tool(name, arguments, meta=self._meta)


def exercise(operation: Any, strategy: Any, examples: int, base: str) -> list[str]:
    failures: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: each failure is reported as found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        try:
            case.call_and_validate(base_url=base, headers=OPERATOR, checks=CHECKS, timeout=30)
        except schemathesis.errors.FailureGroup as exc:  # one per failed check, with a curl to reproduce it
            failures.append(f"{operation.label}: {exc.message}")

    run()
    return failures


def test_every_rest_operation_keeps_to_the_openapi_document(start_gateway, tmp_path) -> None:
    gateway = start_gateway(demo(tmp_path / "demo.db"), policies=DEFAULT_POLICIES, approvals="wait_seconds = 0")
    known = anyio.run(real_objects, gateway.url)
    schema = schemathesis.openapi.from_url(f"{gateway.base}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    for operation in operations:
        pinned = {p.name: known[p.name] for p in operation.path_parameters}
        runs = [(schemathesis.GenerationMode.POSITIVE, None, 25), (schemathesis.GenerationMode.POSITIVE, pinned, 25)]
        if operation.body or operation.query:  # path parameters stay real: only bodies and queries go wrong
            runs.append((schemathesis.GenerationMode.NEGATIVE, pinned, 15))
        for mode, path_parameters, examples in runs:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)
            failures += exercise(operation, strategy, examples, gateway.base)
    assert not failures, "\n\n".join(failures[:5])
