"""Stage 6: hold a call that policy says needs approval, until people decide.

The call becomes a durable ticket (an agent retrying the same call gets the same ticket). The
agent's request waits a short while, with progress notifications, and then answers with the
call's real result if it ran meanwhile, or with a pending result that names the approval and how
to poll it with `rollgate_approval_status` (clients cut tool calls off after 60–120 s, so nothing
waits longer); the decision goes where every SDK accepts it (`gateway.pipeline.verdict`).
A client that takes MCP tasks gets a task at once instead (`gateway.approvals.task`).

When policy names the end user as approver, the client's user is asked: by an elicitation
request during the call (2025-11-25 and older), or by an `input_required` result whose
`requestState` is the ticket id (2026-07-28 multi-round calls; the SDK seals the state, so an
answer only counts on the retry of the very call it was asked about).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import anyio
from mcp.shared.exceptions import MCPError

from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.store import ApprovalStore
from gateway.approvals.task import created_task, task_of
from gateway.approvals.ticket import OPEN, State, Ticket, call_digest
from gateway.errors import ApprovalError
from gateway.ledger.privacy import Masker
from gateway.models import Principal
from gateway.pipeline.call import Call, InputRound, Proceed, Result, TaskSupport
from gateway.pipeline.verdict import typed_output, verdict
from gateway.policy import Effect

logger = logging.getLogger(__name__)

END_USER_ROLE = "end_user"
"""An approver rule with this role is answered by the user of the client that made the call."""
APPROVAL_INPUT = "rollgate/approval"
"""The key of the end-user approval in an `input_required` result and the client's responses."""


class Approve:
    def __init__(self, queue: ApprovalQueue, wait_seconds: float, masker: Masker | None) -> None:
        self._queue = queue
        self._wait = wait_seconds
        self._masker = masker

    @property
    def store(self) -> ApprovalStore:
        return self._queue.store

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        decision = call.decision
        if decision is None or decision.effect is not Effect.REQUIRE_APPROVAL:
            return await proceed(call)
        ticket = self._resumed(call) or (await self._queue.request(self._ticket(call)))[0]
        call.held_digest, call.held_approval = ticket.dedup_key, ticket.id
        if any(rule.role == END_USER_ROLE for rule in ticket.rules):
            if call.input_round is not None and call.input_round.can_elicit:
                answered = self._answered_inline(call.input_round, ticket)
                if answered is None:
                    return _ask_inline(ticket)
                ticket = answered
            elif call.ask_user is not None and call.task is None:
                ticket = await self._ask_end_user(call, ticket)
        if call.task is TaskSupport.CORE:  # the client polls tasks/get and tasks/result instead
            return {"task": task_of(ticket)}
        if call.task is TaskSupport.EXTENSION:
            return created_task(ticket)
        obligations = decision.obligations
        if obligations.approval_mode != "pending":
            wait = min(self._wait, obligations.max_approval_wait_seconds or self._wait)

            async def tick(elapsed: float) -> None:
                if call.progress is not None:
                    await call.progress(elapsed, wait, f"waiting for approval {ticket.id}")

            ticket = await self._queue.wait(ticket.id, wait, tick)
        return answer(ticket)

    async def _ask_end_user(self, call: Call, ticket: Ticket) -> Ticket:
        """Policy named the client's own user as approver: ask them through elicitation.

        Any failure (the client cannot show the form, times out, errors) leaves the ticket pending
        in the queue, where a person can still decide.
        """
        assert call.ask_user is not None
        try:
            with anyio.fail_after(self._wait or 30):
                answer = await call.ask_user("elicitation/create", _question(ticket))
        except (MCPError, TimeoutError, ValueError) as exc:
            logger.info("end-user approval of %s not obtained by elicitation (%s); it stays queued", ticket.id, exc)
            return ticket
        return self._apply_user_answer(ticket, answer)

    def _resumed(self, call: Call) -> Ticket | None:
        """On the retry of a multi-round call, the ticket its `requestState` names (the SDK checked
        that the state is ours, unexpired, and minted for this principal, tool and arguments).
        Stateless clients have no session to tie the rounds to a workflow, so the state does."""
        state = call.input_round.state if call.input_round is not None else None
        ticket = self._queue.store.get(state) if state else None
        if ticket is None or ticket.state not in OPEN or ticket.principal != call.context.principal.id:
            return None
        return ticket

    def _answered_inline(self, round_: InputRound, ticket: Ticket) -> Ticket | None:
        """The ticket after the user's answer on this retry, or None when the user is yet to be
        asked (first round, or state minted for another ticket, such as one that expired since)."""
        answer = round_.responses.get(APPROVAL_INPUT)
        if round_.state != ticket.id or not isinstance(answer, Mapping):
            return None
        return self._apply_user_answer(ticket, answer)

    def _apply_user_answer(self, ticket: Ticket, answer: Mapping[str, Any]) -> Ticket:
        content = answer.get("content")
        content = content if isinstance(content, Mapping) else {}
        approved = answer.get("action") == "accept" and content.get("approve") is True
        user = Principal(f"end-user:{ticket.principal}", frozenset({END_USER_ROLE}))
        text = str(content.get("comment") or ("" if approved else f"the user answered {answer.get('action')}"))
        try:
            return self._queue.decide(ticket.id, user, approved=approved, text=text or "declined by the user")
        except ApprovalError as exc:
            logger.info("end-user decision on %s not applied: %s", ticket.id, exc)
            return ticket

    def _ticket(self, call: Call) -> Ticket:
        """The ticket of a held call: bound to its digest; secrets shown masked and kept sealed."""
        assert call.tool is not None and call.decision is not None
        context = call.context
        arguments = dict(context.arguments)
        digest = call_digest(context.principal.id, context.workflow_id, call.tool.qualified, arguments)
        masked, stored, snapshot = arguments, arguments, call.snapshot
        if self._masker is not None:
            redaction = call.redacted(self._masker)
            masked = redaction.arguments(arguments)
            snapshot = redaction.image(call.snapshot)
            stored = self._masker.seal_if(redaction, arguments)
        manifest = call.manifest.manifest.model_dump(mode="json", exclude_none=True) if call.manifest else {}
        return self._queue.new_ticket(
            principal=context.principal.id,
            principal_roles=sorted(context.principal.roles),
            workflow=context.workflow_id,
            step=context.step,
            correlation_id=context.correlation_id,
            tool=call.tool.qualified,
            exposed_name=context.requested_name,
            arguments=stored,
            display_arguments=masked,
            mask=list(call.decision.obligations.mask),
            snapshot=snapshot,
            dedup_key=digest,
            meta=dict(context.meta),
            manifest=manifest,
            decision_id=call.decision.decision_id,
            reasons=call.decision.reasons,
            rules=call.decision.approvers,
            ttl=call.decision.obligations.max_approval_wait_seconds,
            typed_output=typed_output(call.definition),
        )


def _question(ticket: Ticket) -> dict[str, Any]:
    """The elicitation that asks the end user to allow a held call (masked arguments only)."""
    return {
        "message": (
            f"{ticket.principal} wants to run {ticket.tool} with {json.dumps(ticket.display_arguments)}. "
            f"Why this needs you: {'; '.join(ticket.reasons)}. Allow it?"
        ),
        "requestedSchema": {
            "type": "object",
            "properties": {
                "approve": {"type": "boolean", "title": "Allow this call"},
                "comment": {"type": "string", "title": "Comment"},
            },
            "required": ["approve"],
        },
    }


def _ask_inline(ticket: Ticket) -> Result:
    """2026-07-28: ask the user in an `input_required` result; the client retries with the answer."""
    return {
        "resultType": "input_required",
        "inputRequests": {APPROVAL_INPUT: {"method": "elicitation/create", "params": _question(ticket)}},
        "requestState": ticket.id,
    }


def answer(ticket: Ticket) -> Result:
    """What the agent gets for a held call: the real result once it ran, else its status, with
    the decision where every SDK accepts it (`gateway.pipeline.verdict`)."""
    if ticket.state is State.EXECUTED and ticket.result is not None:
        return ticket.result
    status: dict[str, Any] = {
        "effect": "require_approval",
        "status": ticket.state.value,
        "approval_id": ticket.id,
        "tool": ticket.tool,
        "reasons": ticket.reasons,
        "approvers": [rule.model_dump() for rule in ticket.rules],
        "decision_id": ticket.decision_id,
    }
    if ticket.state in OPEN:
        status |= {"awaiting": ticket.awaiting(), "expires_at": ticket.expires_at, "poll": _poll(ticket.id)}
    elif ticket.state is State.FAILED:
        status["error"] = ticket.error
    else:
        status["reason"] = ticket.denial_reason
    return verdict(_told(ticket), status, typed=ticket.typed_output)


def _poll(approval_id: str) -> dict[str, Any]:
    """How an agent follows a held call: the meta-tool to call, and its arguments."""
    return {"tool": "rollgate_approval_status", "arguments": {"approval_id": approval_id}}


def _told(ticket: Ticket) -> str:
    """What happened to a held call that has not run, and what the agent can do next."""
    why = "; ".join(ticket.reasons)
    again = "Making the same call again asks for a new approval."
    if ticket.state in OPEN:
        where = {
            State.PENDING: f"is waiting for {'; '.join(ticket.awaiting()) or 'a decision'}; nothing has run yet",
            State.APPROVED: "is approved; the call is about to run",
            State.EXECUTING: "is approved; the call is running",
        }[ticket.state]
        return (
            f"Held for approval: {ticket.exposed_name} needs a person's approval. Approval {ticket.id} {where}. "
            f"Next: call rollgate_approval_status with {json.dumps({'approval_id': ticket.id})} until its status "
            f"is executed (it then carries the call's result), or retry this same call, which is answered "
            f"from the same approval. It expires at {ticket.expires_at}. Why it is held: {why}."
        )
    if ticket.state is State.FAILED:
        return (
            f"Approval {ticket.id} was granted, but {ticket.exposed_name} failed when it ran: {ticket.error}. "
            f"Check what it did before trying again. {again}"
        )
    if ticket.state is State.EXPIRED:
        return (
            f"Not approved: approval {ticket.id} expired without a decision, "
            f"so {ticket.exposed_name} did not run. {again}"
        )
    who = f" by {ticket.denied_by}" if ticket.denied_by else ""
    return (
        f"Not approved: approval {ticket.id} was denied{who} ({ticket.denial_reason}), "
        f"so {ticket.exposed_name} did not run. {again}"
    )
