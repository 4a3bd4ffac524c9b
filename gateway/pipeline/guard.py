"""Stage 3: measure the call against the usage guards (loops, budgets, rates) for the policy.

Before decide, each guard measures the call into `call.signals` (`loop`, `budget`, `rate`: the
`SignalsDoc` fields), where the policy reads them as `input.signals` (`rate` only when a bucket
was empty, `budget` only when a budget is at half its limit or more: null says all is well); the default policy denies a
tripped guard with the guard's reason, and a policy of one's own may react otherwise. Nothing is
refused here: the decision is policy's, and the ledger records it with the guards that tripped.

A measured call holds a reservation in each guard (its place in the loop window, its share of a
budget, its rate tokens), so concurrent calls see each other. When the call settles, what ran is
counted and the rest is given back: a call ran when policy allowed it and it was forwarded (a
held call counts when its approval runs it; a replayed idempotent step did not run again; a
forwarded call of unknown outcome may have run and is counted). A denied call therefore spends
nothing, and a denied loop does not extend its own lockout.

A refused call whose decision carries the `quarantine` obligation (the default policy's answer to
a loop, when `guards.loops.quarantine` is on) quarantines its workflow here, on record with the
reason: the obligation's other path (`Gateway._react`) sees only calls that ran.

The gateway's own calls (compensations, verification reads) are never measured: a rollback is
never stopped by a guard.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.config import GuardsConfig
from gateway.errors import OutcomeUnknownError, TemplateError
from gateway.guards.budgets import BudgetGuard, BudgetMark, BudgetStore, Counts
from gateway.guards.loops import LoopGuard, LoopLimits, LoopMark
from gateway.guards.rates import RateGuard, RateLimit, RateLimits, RateMark
from gateway.manifests import Reversibility
from gateway.models import result_data
from gateway.pipeline.call import Call, Proceed, Result
from gateway.policy import Effect
from gateway.policy.build import idempotency_key

logger = logging.getLogger(__name__)

Quarantine = Callable[[str, str], Awaitable[None]]
"""(workflow, reason): the operations' quarantine, which records it in the ledger."""

REPLAYED = "rollgate/replayed_step"


class Guard:
    def __init__(
        self,
        loops: LoopGuard | None = None,
        budgets: BudgetGuard | None = None,
        rates: RateGuard | None = None,
        quarantine: Quarantine | None = None,
    ) -> None:
        self.loops = loops
        self.budgets = budgets
        self.rates = rates
        self._quarantine = quarantine

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        if call.context.compensation or call.tool is None or call.manifest is None:
            return await proceed(call)
        marks = self._measure(call)
        ran = False
        result: Result | None = None
        try:
            result = await proceed(call)
            ran = _allowed(call) and REPLAYED not in (result.get("_meta") or {})
        except OutcomeUnknownError:
            ran = _allowed(call)  # forwarded and unanswered: it may have run, so it counts
            raise
        finally:
            self._settle(marks, ran, result)
        decision = call.decision
        if decision is not None and decision.effect is Effect.DENY and decision.obligations.quarantine:
            await self._quarantine_for(call)
        return result

    def _measure(self, call: Call) -> tuple[LoopMark | None, BudgetMark | None, RateMark | None]:
        assert call.tool is not None and call.manifest is not None
        context, tool, manifest = call.context, call.tool.qualified, call.manifest.manifest
        read_only = manifest.reversibility is Reversibility.READ_ONLY
        loop_mark = budget_mark = rate_mark = None
        if self.rates is not None:
            rate, rate_mark = self.rates.measure(context.principal.id, tool)
            if rate.tripped:  # an untripped bucket has nothing to say: `rate` stays null
                call.signals["rate"] = rate
        if self.loops is not None:
            keyed = not read_only and _keyed(call)
            loop, loop_mark = self.loops.measure(
                context.workflow_id, tool, context.arguments, read_only=read_only, keyed=keyed
            )
            if (
                loop.tripped
                or _near(loop.same_call, loop.same_call_limit)
                or _near(loop.same_tool, loop.same_tool_limit)
            ):
                call.signals["loop"] = loop  # else `loop` stays null: far from its limits, as budgets
        if self.budgets is not None:
            budget, budget_mark = self.budgets.measure(
                context.workflow_id,
                context.principal.id,
                tool,
                context.arguments,
                read_only=read_only,
                blast_radius=manifest.blast_radius,
            )
            if budget.tripped or budget.figures:  # else `budget` stays null: nothing near a limit
                call.signals["budget"] = budget
        return loop_mark, budget_mark, rate_mark

    def _settle(
        self, marks: tuple[LoopMark | None, BudgetMark | None, RateMark | None], ran: bool, result: Result | None
    ) -> None:
        loop_mark, budget_mark, rate_mark = marks
        if self.loops is not None and loop_mark is not None:
            self.loops.settle(loop_mark, ran)
        if self.budgets is not None and budget_mark is not None:
            self.budgets.settle(
                budget_mark, ran, result_data(result) if ran and result is not None and budget_mark.templates else None
            )
        if self.rates is not None and rate_mark is not None:
            self.rates.settle(rate_mark, ran)

    async def _quarantine_for(self, call: Call) -> None:
        if self._quarantine is None:
            return
        assert call.decision is not None
        reasons = "; ".join(call.decision.reasons) or "a policy obligation quarantined this workflow"
        await self._quarantine(call.context.workflow_id, f"{reasons} (decision {call.decision.decision_id})")

    def state(self) -> dict[str, Any]:
        """Each guard's `state()`, for status and metrics."""
        return {
            name: guard.state()
            for name, guard in (("loops", self.loops), ("budgets", self.budgets), ("rates", self.rates))
            if guard is not None
        }


def usage_guard(
    config: GuardsConfig,
    budgets: Callable[[], Mapping[str, Any] | None],
    counts: Counts,
    store: BudgetStore | None,
    quarantine: Quarantine | None,
) -> Guard | None:
    """The stage for `[guards]`: `budgets` gives `data.rollgate.budgets` of the loaded policy,
    `counts` the workflow book's call and mutation counts; None when every guard is off."""
    loops = rates = budget = None
    if (lc := config.loops).enabled:
        loops = LoopGuard(
            LoopLimits(
                lc.window_seconds, lc.same_call, lc.same_tool, lc.read_same_call, lc.read_same_tool, lc.quarantine
            )
        )
    if (rc := config.rates).enabled:
        limits = RateLimits(
            RateLimit(rc.principal.rate, rc.principal.burst),
            RateLimit(rc.tool.rate, rc.tool.burst),
            {pattern: RateLimit(limit.rate, limit.burst) for pattern, limit in rc.tools.items()},
        )
        rates = RateGuard(limits)
    if config.budgets.enabled:
        budget = BudgetGuard(budgets, counts, store)
    if loops is None and rates is None and budget is None:
        return None
    return Guard(loops, budget, rates, quarantine)


def _near(count: int, limit: int) -> bool:
    """Whether a count is at half its limit or more (a limit of 0 is none)."""
    return bool(limit) and 2 * count >= limit


def _keyed(call: Call) -> bool:
    """Whether the call has an idempotency key, so the track stage runs it once whatever repeats."""
    assert call.manifest is not None
    try:
        return idempotency_key(call.context, call.manifest) is not None
    except TemplateError:
        return False


def _allowed(call: Call) -> bool:
    return call.decision is not None and call.decision.effect is Effect.ALLOW
