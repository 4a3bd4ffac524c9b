"""`rollgate approvals list | show ID | approve ID [--comment] | deny ID --reason`.

The CLI acts on the ticket store directly, as the approver whose token it is given
(`--token` or ROLLGATE_APPROVER_TOKEN, checked as the REST API checks it: `server.auth`); the
running gateway notices the change, writes it to the ledger and executes approved calls.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from gateway.approvals.store import ApprovalStore
from gateway.approvals.ticket import State, Ticket
from gateway.cli.output import table
from gateway.config import Config
from gateway.errors import ApprovalError
from gateway.models import Principal

COLUMNS = ["id", "state", "tool", "agent", "workflow", "needs"]


def run(args: argparse.Namespace, config: Config) -> int:
    match args.approvals_command:
        case "list":
            return list_tickets(config, args.state)
        case "show":
            return show(config, args.id)
        case "approve":
            return decide(config, args.id, args.token, approved=True, text=args.comment)
        case _:
            return decide(config, args.id, args.token, approved=False, text=args.reason)


def _store(config: Config) -> ApprovalStore:
    database = config.approvals.database
    return ApprovalStore(database if database.is_absolute() else config.state_dir / database)


def _approver(config: Config, token: str | None) -> Principal | None:
    from gateway.server.auth import ApproverTokens

    who = ApproverTokens(config).resolve(f"Bearer {token or os.environ.get('ROLLGATE_APPROVER_TOKEN', '')}")
    if isinstance(who, Principal):
        return who
    print(
        "rollgate: "
        + (
            "an agent's token cannot act on approvals"
            if who == 403
            else "give an approver token (--token or ROLLGATE_APPROVER_TOKEN)"
        ),
        file=sys.stderr,
    )
    return None


def _cells(ticket: Ticket) -> list[str]:
    needs = "; ".join(ticket.awaiting()) if ticket.state is State.PENDING else ""
    return [ticket.id, ticket.state.value, ticket.tool, ticket.principal, ticket.workflow, needs]


def _line(ticket: Ticket) -> str:
    id_, state, tool, agent, workflow, needs = _cells(ticket)
    return f"{id_}  {state:<9} {tool:<28} {agent:<14} {workflow}  {needs}"


def list_tickets(config: Config, state: str | None) -> int:
    tickets = _store(config).list(State(state) if state else None)
    if not tickets:
        print("no approvals" + (f" in state {state}" if state else ""))
        return 0
    table(COLUMNS, tickets, _cells, _line)
    return 0


def show(config: Config, ticket_id: str) -> int:
    from gateway.approvals.view import view

    ticket = _store(config).get(ticket_id)
    if ticket is None:
        print(f"rollgate: no approval {ticket_id!r}", file=sys.stderr)
        return 1
    print(json.dumps(view(ticket).model_dump(mode="json"), indent=2))
    return 0


def decide(config: Config, ticket_id: str, token: str | None, *, approved: bool, text: str) -> int:
    from gateway.approvals.queue import act

    approver = _approver(config, token)
    if approver is None:
        return 2
    try:
        ticket = act(_store(config), ticket_id, approver, approved=approved, text=text)
    except ApprovalError as exc:
        print(f"rollgate: {exc}", file=sys.stderr)
        return 1
    outcome = {
        "approved": "approved: the gateway runs it now",
        "pending": "approval recorded; still needs " + "; ".join(ticket.awaiting()),
        "denied": "denied",
    }[ticket.state.value]
    print(f"{ticket.id}: {outcome}")
    return 0
