"""The kill switch: an operator stops every new call of everyone, or of one principal, at once.

The state is a handful of `Stop` records (one for "all", one per stopped principal), kept in memory
for the per-call check (`stopped_for`, a dictionary lookup) and durably in the guard state store,
so a stop survives a restart of the gateway. Engaging it changes memory before the store (the
switch is in force even if the write then fails: it fails closed); lifting it writes the store
first (a failed write leaves the calls stopped). Who stopped what, when and why is ledgered through
the `Record` port, as is who lifted it.

What a stop does not stop: calls already past the pipeline's stop stage (in-flight calls finish),
and the gateway's own calls (compensations and verification reads of a rollback), so that
rolling back what a runaway agent did still works while it is stopped. `resume --all` lifts the
stop of everyone only; a principal stopped by name stays stopped until resumed by name.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gateway.clock import SYSTEM, Clock
from gateway.ledger.events import CallsResumed, CallsStopped, Record
from gateway.store.guard_state import GuardStateStore

KIND = "stop"
ALL = "*"
"""The store key of the stop of everyone (a principal id is never `*`: see `Stop.principal`)."""


class Stop(BaseModel):
    """One engaged stop: of everyone (`principal` None) or of one principal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    principal: str | None
    by: str
    reason: str
    since: str
    """ISO time, UTC, by the gateway's clock."""

    def refusal(self) -> str:
        """What a refused agent is told: who stopped it, since when, why, and what lifts it."""
        whose = "all calls through this gateway" if self.principal is None else f"the calls of agent {self.principal}"
        return (
            f"Stopped: {self.by} stopped {whose} at {self.since[:19].replace('T', ' ')} UTC ({self.reason}). "
            "The call did not run; new calls are refused until an operator resumes them (rollgate resume)."
        )


class StopState(BaseModel):
    """What `GET /api/stop` and `rollgate status` show."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    all: Stop | None
    principals: list[Stop]


class StopSwitch:
    def __init__(self, store: GuardStateStore, record: Record | None = None, clock: Clock = SYSTEM) -> None:
        self._store = store
        self._record = record
        self._clock = clock
        self._stops = {key: Stop.model_validate_json(document) for key, document in store.load(KIND).items()}

    def stopped_for(self, principal: str) -> Stop | None:
        """The stop that refuses `principal`'s new calls, if any (everyone's first)."""
        stops = self._stops
        if not stops:
            return None
        return stops.get(ALL) or stops.get(principal)

    def state(self) -> StopState:
        named = sorted((s for k, s in self._stops.items() if k != ALL), key=lambda s: s.principal or "")
        return StopState(all=self._stops.get(ALL), principals=named)

    async def stop(self, by: str, reason: str, principal: str | None = None) -> tuple[Stop, bool]:
        """Stop everyone (`principal` None) or one principal: (the stop in force, whether this
        engaged it). Stopping what is stopped already keeps the first stop, and records nothing."""
        key = ALL if principal is None else principal
        if (engaged := self._stops.get(key)) is not None:
            return engaged, False
        engaged = Stop(principal=principal, by=by, reason=reason, since=self._clock.now().isoformat())
        self._stops[key] = engaged  # in force from here on: before the write, which may fail
        self._store.save(KIND, key, engaged.model_dump_json())
        if self._record is not None:
            await self._record(CallsStopped(by=by, reason=reason, all=principal is None, **_named(principal)))
        return engaged, True

    async def resume(self, by: str, principal: str | None = None) -> Stop | None:
        """Lift the stop of everyone (`principal` None) or of one principal: the stop lifted, or
        None if there was none."""
        key = ALL if principal is None else principal
        lifted = self._stops.get(key)
        if lifted is None:
            return None
        self._store.drop(KIND, key)  # first: a failed write leaves the calls stopped
        del self._stops[key]
        if self._record is not None:
            await self._record(CallsResumed(by=by, all=principal is None, stopped_by=lifted.by, **_named(principal)))
        return lifted


def _named(principal: str | None) -> dict[str, str]:
    """The event's `principal`, left out of the entry for a stop of everyone."""
    return {} if principal is None else {"principal": principal}
