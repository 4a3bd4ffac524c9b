"""`rollgate rollback WORKFLOW` and `rollgate quarantine WORKFLOW --reason | --release`.

A dry run is planned here from the saga store; everything that changes state is asked of the
running gateway over its REST API (it owns the upstream connections and the ledger), with an
operator's (approver's) token from --token or ROLLGATE_APPROVER_TOKEN.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import httpx

from gateway.config import Config
from gateway.saga.model import Scope, plan
from gateway.saga.store import SagaStore


def _selection(to_checkpoint: str | None, steps: str | None, resource: str | None) -> tuple[Scope, dict[str, Any]]:
    if to_checkpoint:
        return "checkpoint", {"checkpoint": to_checkpoint}
    if steps:
        return "steps", {"step_seqs": sorted({int(s) for s in steps.split(",") if s.strip()})}
    if resource:
        return "resource", {"resource": resource}
    return "all", {}


def rollback(
    config: Config,
    workflow: str,
    *,
    to_checkpoint: str | None,
    steps: str | None,
    resource: str | None,
    dry_run: bool,
    token: str | None,
) -> int:
    if dry_run:
        saga = SagaStore(config.state_dir / "saga.db")
        scope, selection = _selection(to_checkpoint, steps, resource)
        try:
            actions = plan(saga.steps(workflow), saga.checkpoints(workflow), scope, **selection)
        except ValueError as exc:
            print(f"rollgate: {exc}", file=sys.stderr)
            return 2
        if not actions:
            print(f"nothing to undo in {workflow}")
        for action in actions:
            verb = {"compensate": "UNDO", "escalate": "PERSON", "skip": "SKIP"}[action.action]
            print(f"{verb:<7} step {action.step.seq} {action.step.tool}: {action.why}")
        return 0
    body: dict[str, Any] = {"to_checkpoint": to_checkpoint, "resource": resource}
    if steps:
        body["steps"] = [int(s) for s in steps.split(",") if s.strip()]
    return _post(config, f"/api/workflows/{workflow}/rollback", body, token)


def quarantine(config: Config, workflow: str, reason: str | None, release: bool, token: str | None) -> int:
    if release:
        return _post(config, f"/api/workflows/{workflow}/release", {}, token)
    if not reason:
        print("rollgate: quarantine needs --reason (or --release)", file=sys.stderr)
        return 2
    return _post(config, f"/api/workflows/{workflow}/quarantine", {"reason": reason}, token)


def _post(config: Config, path: str, body: dict[str, Any], token: str | None) -> int:
    token = token or os.environ.get("ROLLGATE_APPROVER_TOKEN")
    if not token:
        print("rollgate: give an operator (approver) token: --token or ROLLGATE_APPROVER_TOKEN", file=sys.stderr)
        return 2
    url = f"http://{config.server.host}:{config.server.port}{path}"
    try:
        response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=600)
    except httpx.HTTPError as exc:
        print(f"rollgate: the gateway at {url} did not answer: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0 if response.is_success else 1
