"""The approval queue: hold a call, let people decide, run it exactly once.

The gateway process owns execution and the ledger: approvals made elsewhere (the CLI) only change
the ticket store, and the gateway's loop notices them, executes approved tickets (compare-and-set
approved → executing, so one worker wins), expires old ones, and writes every approver action from
the store's outbox to the ledger.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio

from gateway.approvals.store import ApprovalStore
from gateway.approvals.ticket import State, Ticket, approve, deny, expire, withdraw
from gateway.clock import SYSTEM, Clock
from gateway.errors import AlreadyDecided, NotFound, Tampered
from gateway.ledger.events import (
    ApprovalDenied,
    ApprovalEvent,
    ApprovalExecuted,
    ApprovalExpired,
    ApprovalFailed,
    ApprovalGranted,
    ApprovalOutcomeUnknown,
    ApprovalRemediated,
    ApprovalRequested,
    ApprovalTampered,
    Record,
    event_from,
)
from gateway.models import Principal

logger = logging.getLogger(__name__)

Execute = Callable[[Ticket], Awaitable[dict[str, Any]]]
Announce = Callable[[Ticket], Awaitable[None]]


def act(
    store: ApprovalStore, ticket_id: str, approver: Principal, *, approved: bool, text: str, clock: Clock = SYSTEM
) -> Ticket:
    """Apply one approver's decision (from any process); raises an ApprovalError subclass."""
    for _ in range(20):
        ticket = store.get(ticket_id)
        if ticket is None:
            raise NotFound(f"no approval {ticket_id!r}")
        at = clock.now()
        if approved:
            updated = approve(ticket, approver.id, set(approver.roles), text, at)
            event: ApprovalEvent = ApprovalGranted(
                approval_id=ticket.id,
                approver=approver.id,
                roles=sorted(approver.roles),
                comment=text,
                complete=updated.state is State.APPROVED,
            )
        else:
            updated = deny(ticket, approver.id, set(approver.roles), text, at)
            event = ApprovalDenied(
                approval_id=ticket.id, approver=approver.id, roles=sorted(approver.roles), reason=text
            )
        stored = store.swap(ticket, updated, event)
        if stored is not None:
            return stored
    raise AlreadyDecided(f"{ticket_id} is changing too fast; try again")


class ApprovalQueue:
    def __init__(
        self,
        store: ApprovalStore,
        ttl_seconds: float,
        poll_seconds: float,
        same_call_seconds: float = 86400.0,
        clock: Clock = SYSTEM,
        *,
        execute: Execute | None = None,
        record: Record | None = None,
        announce: Announce | None = None,
    ) -> None:
        """`execute` runs an approved call (the gateway's pipeline), `record` writes the ledger
        events, `announce` tells the approvers' webhooks of a new ticket."""
        self.store = store
        self.clock = clock
        self._ttl = ttl_seconds
        self._same_call = same_call_seconds
        self._poll = poll_seconds
        self._changed: dict[str, anyio.Event] = {}
        self._wake = anyio.Event()
        self.execute = execute
        self.record = record
        self.announce = announce

    async def request(self, ticket: Ticket) -> tuple[Ticket, bool]:
        """The ticket of this call: the agent's retry of a call that is held, approved, running, or
        has run (within `same_call_seconds`) is that call, answered from its ticket (the recorded
        result, once it ran), never a second run; else a new ticket. The call digest (principal,
        workflow, tool, arguments) identifies it, with or without an idempotency key."""
        since = (self.clock.now() - timedelta(seconds=self._same_call)).isoformat()
        existing = self.store.same_call(ticket.dedup_key, since)
        if existing is not None:
            return existing, False
        created = self.store.create(ticket)
        if self.record is not None:
            await self.record(ApprovalRequested(**_summary(created)))
        if self.announce is not None:
            await self.announce(created)
        return created, True

    def new_ticket(self, **fields: Any) -> Ticket:
        """A pending ticket; a held call's fields include `dedup_key`, its `call_digest`."""
        created = self.clock.now()
        if fields.get("manual"):
            fields.setdefault("dedup_key", f"manual:{fields['decision_id']}")
        elif not fields.get("dedup_key"):
            raise ValueError("a held call's ticket needs its call digest")
        return Ticket(
            id=f"apr_{secrets.token_hex(8)}",
            state=State.PENDING,
            created_at=created.isoformat(),
            expires_at=(created + timedelta(seconds=fields.pop("ttl", None) or self._ttl)).isoformat(),
            **fields,
        )

    async def wait(self, ticket_id: str, seconds: float, tick: Callable[[float], Awaitable[None]]) -> Ticket:
        """Wait until the ticket is final or `seconds` pass, calling `tick(elapsed)` every second."""
        elapsed = 0.0
        while elapsed < seconds:
            ticket = self.store.get(ticket_id)
            if ticket is None or ticket.state in (State.EXECUTED, State.FAILED, State.DENIED, State.EXPIRED):
                break
            event = self._changed.setdefault(ticket_id, anyio.Event())
            step = min(1.0, seconds - elapsed)
            with anyio.move_on_after(step):
                await event.wait()
            elapsed += step
            await tick(elapsed)
        ticket = self.store.get(ticket_id)
        assert ticket is not None
        return ticket

    def decide(self, ticket_id: str, approver: Principal, *, approved: bool, text: str) -> Ticket:
        ticket = act(self.store, ticket_id, approver, approved=approved, text=text, clock=self.clock)
        self.poke(ticket_id)
        return ticket

    def withdraw(self, ticket_id: str, requester: Principal, reason: str) -> Ticket:
        """The requesting agent cancels its own pending call (compare-and-set, like a decision)."""
        for _ in range(5):
            ticket = self.store.get(ticket_id)
            if ticket is None:
                raise NotFound(f"no approval {ticket_id}")
            updated = withdraw(ticket, requester.id, reason)
            event = ApprovalDenied(approval_id=ticket.id, approver=requester.id, reason=reason, withdrawn=True)
            if (stored := self.store.swap(ticket, updated, event)) is not None:
                self.poke(ticket_id)
                return stored
        raise AlreadyDecided(f"{ticket_id} is changing too fast; try again")

    def poke(self, ticket_id: str | None = None) -> None:
        self._wake.set()
        if ticket_id is not None and (event := self._changed.pop(ticket_id, None)) is not None:
            event.set()

    async def run(self) -> None:
        """The gateway's loop: ledger the outbox, expire, execute approved tickets."""
        self._recover()
        while True:
            try:
                await self._once()
            except Exception:  # top of a task: log, keep the loop alive
                logger.exception("approval loop iteration failed")
            with anyio.move_on_after(self._poll):
                await self._wake.wait()
            self._wake = anyio.Event()

    def _recover(self) -> None:
        """A ticket left executing by a crash has an unknown outcome: fail it, never run it again."""
        for ticket in self.store.list(State.EXECUTING):
            reason = "the gateway stopped while running this call; outcome unknown"
            failed = ticket.model_copy(update={"state": State.FAILED, "error": reason})
            self.store.swap(ticket, failed, ApprovalOutcomeUnknown(approval_id=ticket.id, reason=reason))

    async def _once(self) -> None:
        await self._deliver()
        at = self.clock.now()
        for ticket in self.store.list(State.PENDING, limit=1000):
            expired = expire(ticket, at)
            if expired is None:
                continue
            if self.store.swap(ticket, expired, ApprovalExpired(approval_id=ticket.id, reason="expired")):
                self.poke(ticket.id)
        for ticket in self.store.list(State.APPROVED, limit=1000):
            await self._execute(ticket)
        await self._deliver()

    async def _execute(self, ticket: Ticket) -> None:
        if ticket.manual:
            done = ticket.model_copy(update={"state": State.EXECUTED, "result": {"remediated": True}})
            if self.store.swap(
                ticket, done, ApprovalRemediated(approval_id=ticket.id, approvals=len(ticket.approvals))
            ):
                self.poke(ticket.id)
            return
        if self.execute is None:
            return
        running = self.store.swap(ticket, ticket.model_copy(update={"state": State.EXECUTING}))
        if running is None:
            return  # another worker took it
        event: ApprovalEvent
        try:
            result = await self.execute(running)
            final = running.model_copy(update={"state": State.EXECUTED, "result": result})
            event = ApprovalExecuted(approval_id=ticket.id, is_error=bool(result.get("isError")))
        except Tampered as exc:  # never run: the ticket is not the call that was held
            final = running.model_copy(update={"state": State.FAILED, "error": str(exc)})
            event = ApprovalTampered(approval_id=ticket.id, error=str(exc))
            logger.error("approval %s refused: %s", ticket.id, exc)
        except Exception as exc:  # the call failed: record it, never retry an approved call silently
            error = str(exc) or type(exc).__name__
            final = running.model_copy(update={"state": State.FAILED, "error": error})
            event = ApprovalFailed(approval_id=ticket.id, error=error)
        self.store.swap(running, final, event)
        self.poke(ticket.id)

    async def _deliver(self) -> None:
        for event_id, ticket_id, kind, document in self.store.undelivered():
            if self.record is not None:
                ticket = self.store.get(ticket_id)
                summary = _summary(ticket) if ticket else {"approval_id": ticket_id}
                await self.record(event_from(kind, {**summary, **document}))
            self.store.delivered(event_id)
            self.poke(ticket_id)


def _summary(ticket: Ticket) -> dict[str, Any]:
    return {
        "approval_id": ticket.id,
        "call_digest": ticket.dedup_key,
        "correlation_id": ticket.correlation_id,
        "principal": ticket.principal,
        "workflow": ticket.workflow,
        "tool": ticket.tool,
        "state": ticket.state.value,
        "decision_id": ticket.decision_id,
        "awaiting": ticket.awaiting(),
    }
