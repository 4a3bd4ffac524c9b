"""`rollgate rollback WORKFLOW` and `rollgate quarantine WORKFLOW --reason | --release`.

A dry run is planned here from the saga store; everything that changes state is asked of the
running gateway over its REST API (it owns the upstream connections and the ledger), with an
operator's (approver's) token from --token or ROLLGATE_APPROVER_TOKEN. A refusal is one line on
stderr: exit status 1 for what the gateway refused or does not know (an unknown workflow, step,
checkpoint or resource), 2 for a usage error. The answer is the gateway's JSON, printed as it came.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from gateway.cli.remote import ask
from gateway.config import Config
from gateway.errors import InvalidArgumentsError, NotFoundError
from gateway.saga.model import plan, rollback_scope
from gateway.saga.store import SagaStore


def run(args: argparse.Namespace, config: Config) -> int:
    if args.command == "quarantine":
        return quarantine(config, args.workflow, args.reason, args.release, args.token)
    return rollback(
        config,
        args.workflow,
        to_checkpoint=args.to_checkpoint,
        steps=args.steps,
        resource=args.resource,
        dry_run=args.dry_run,
        token=args.token,
    )


def rollback(
    config: Config,
    workflow: str,
    *,
    to_checkpoint: str | None,
    steps: list[int] | None,
    resource: str | None,
    dry_run: bool,
    token: str | None,
) -> int:
    body: dict[str, Any] = {"to_checkpoint": to_checkpoint, "steps": steps, "resource": resource}
    try:
        scope, selection = rollback_scope(body)
    except InvalidArgumentsError as exc:
        print(f"rollgate: {exc.message}", file=sys.stderr)
        return 2
    if not dry_run:
        return _post(config, f"/api/workflows/{quote(workflow, safe='')}/rollback", body, token)
    saga = SagaStore(config.state_dir / "saga.db")
    try:
        saga.require(workflow)
        actions = plan(saga.steps(workflow), saga.checkpoints(workflow), scope, **selection)
    except NotFoundError as exc:
        print(f"rollgate: {exc.message}", file=sys.stderr)
        return 1
    if not actions:
        print(f"nothing to undo in {workflow}")
    for action in actions:
        verb = {"compensate": "UNDO", "escalate": "PERSON", "skip": "SKIP", "reconcile": "CHECK"}[action.action]
        print(f"{verb:<7} step {action.step.seq} {action.step.tool}: {action.why}")
    return 0


def quarantine(config: Config, workflow: str, reason: str | None, release: bool, token: str | None) -> int:
    if release:
        return _post(config, f"/api/workflows/{quote(workflow, safe='')}/release", {}, token)
    if not reason:
        print("rollgate: quarantine needs --reason (or --release)", file=sys.stderr)
        return 2
    return _post(config, f"/api/workflows/{quote(workflow, safe='')}/quarantine", {"reason": reason}, token)


def _post(config: Config, path: str, body: dict[str, Any], token: str | None) -> int:
    answer = ask(config, "POST", path, body, token, timeout=600)  # a rollback waits for its compensations
    if isinstance(answer, int):
        return answer
    print(json.dumps(answer, indent=2))
    return 0
