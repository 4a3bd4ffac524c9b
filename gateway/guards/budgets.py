"""The budget guard: how much one workflow, and one principal, may do.

Budgets come from policy data (`data.rollgate.budgets`, read through a callable so this package
does not import the policy layer) and are measured per workflow and per principal:

    max_calls_per_{workflow,principal}       calls that ran
    max_mutations_per_{workflow,principal}   calls of tools that are not read_only
    max_resources_per_{workflow,principal}   distinct blast-radius keys touched (manifest)
    sums.<name> = {path, tools, per_workflow, per_principal}
                                             the total of a numeric argument (`amount_cents`)
                                             over the calls of matching tools (`server/tool` globs)

Calls and mutations are the workflow book's durable counters (`gateway.workflows`), so the
mutation budget the gateway always had is this guard's, not a second count. Resource keys and
sums are this guard's own, kept in the saga store through `BudgetStore`, so a restart resets no
budget. A measured call reserves what it would spend (concurrent calls see each other's
reservations); the reservation becomes spending if the call ran and is dropped if it did not.
A sum counts an amount's magnitude: a negative amount spends budget too.
"""

from __future__ import annotations

import fnmatch
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gateway.errors import TemplateError
from gateway.manifests import render
from gateway.manifests.templates import lookup
from gateway.policy.document import BudgetFigure, BudgetSignal

logger = logging.getLogger(__name__)

Scope = Literal["workflow", "principal"]
SCOPES: tuple[Scope, ...] = ("workflow", "principal")
_WHO = {"workflow": "workflow", "principal": "agent"}


class BudgetStore(Protocol):
    """Where resource keys and sums survive a restart (the saga store)."""

    def budget_tally(self, kind: str, key: str) -> tuple[set[str], dict[str, float]]: ...

    def save_budget(self, kind: str, key: str, resources: Sequence[str], sums: Mapping[str, float]) -> None: ...


class MemoryBudgets:
    """A `BudgetStore` that keeps nothing across restarts (tests, no state directory)."""

    def budget_tally(self, kind: str, key: str) -> tuple[set[str], dict[str, float]]:
        return set(), {}

    def save_budget(self, kind: str, key: str, resources: Sequence[str], sums: Mapping[str, float]) -> None:
        return None


@dataclass(frozen=True, slots=True)
class SumLimit:
    name: str
    path: str
    tools: tuple[str, ...] = ("*",)
    per_workflow: float | None = None
    per_principal: float | None = None

    def applies(self, tool: str) -> bool:
        return any(fnmatch.fnmatchcase(tool, pattern) for pattern in self.tools)

    def limit(self, scope: Scope) -> float | None:
        return self.per_workflow if scope == "workflow" else self.per_principal


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    calls: Mapping[Scope, float] = field(default_factory=dict)
    mutations: Mapping[Scope, float] = field(default_factory=dict)
    resources: Mapping[Scope, float] = field(default_factory=dict)
    sums: tuple[SumLimit, ...] = ()
    problems: tuple[str, ...] = ()
    """Malformed entries of the policy data: every call is refused until they are fixed."""

    @classmethod
    def from_data(cls, budgets: Mapping[str, Any] | None) -> BudgetLimits:
        """Read `data.rollgate.budgets`; absent or null entries are no limit."""
        if not budgets:
            return cls()
        problems: list[str] = []
        counted: dict[str, dict[Scope, float]] = {"calls": {}, "mutations": {}, "resources": {}}
        for what, limits in counted.items():
            for scope in SCOPES:
                name = f"max_{what}_per_{scope}"
                if (limit := _limit(budgets.get(name), f"budgets.{name}", problems)) is not None:
                    limits[scope] = limit
        sums: list[SumLimit] = []
        declared = budgets.get("sums") or {}
        if not isinstance(declared, Mapping):
            problems.append("budgets.sums must be an object of {path, tools, per_workflow, per_principal}")
            declared = {}
        for name, spec in declared.items():
            if not isinstance(spec, Mapping) or not isinstance(spec.get("path", name), str):
                problems.append(f"budgets.sums.{name} must be an object with a string path")
                continue
            tools = spec.get("tools", ["*"])
            if isinstance(tools, str):
                tools = [tools]
            if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
                problems.append(f"budgets.sums.{name}.tools must be a list of server/tool globs")
                continue
            sums.append(
                SumLimit(
                    name,
                    spec.get("path", name),
                    tuple(tools),
                    _limit(spec.get("per_workflow"), f"budgets.sums.{name}.per_workflow", problems),
                    _limit(spec.get("per_principal"), f"budgets.sums.{name}.per_principal", problems),
                )
            )
        return cls(counted["calls"], counted["mutations"], counted["resources"], tuple(sums), tuple(problems))


def _limit(value: Any, where: str, problems: list[str]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        problems.append(f"{where} must be a non-negative number or null, not {value!r}")
        return None
    return float(value)


@dataclass(slots=True)
class _Tally:
    resources: set[str] = field(default_factory=set)
    sums: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Reserved:
    """What the calls in flight of one workflow or principal would spend."""

    calls: int = 0
    mutations: int = 0
    resources: dict[str, int] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)


_NOTHING_RESERVED = _Reserved()
"""Read, never written: the reservations of a workflow or principal with no call in flight."""


@dataclass(frozen=True, slots=True)
class _Share:
    """What one call would spend of one workflow's or principal's budgets."""

    scope: Scope
    key: str
    resources: frozenset[str]
    sums: Mapping[str, float]
    counts_resources: bool
    """This scope has a resource budget: keys only known from the result are added at settle."""


@dataclass(frozen=True, slots=True)
class BudgetMark:
    """What a measured call reserved, per scope, until it settles."""

    shares: tuple[_Share, ...]
    mutation: bool
    templates: tuple[str, ...]
    arguments: Mapping[str, Any]


_UNMEASURED = BudgetSignal.model_construct(tripped=False, figures=[], reason=None)
_NO_MARK = BudgetMark((), False, (), {})

NEAR = 0.5
"""A budget's figures go to the policy once a call brings it to this share of its limit."""

Counts = Callable[[str, str], tuple[int, int]]
"""(kind, key) → (calls, mutations) that ran: the workflow book's counters."""


class BudgetGuard:
    def __init__(
        self, limits: Callable[[], Mapping[str, Any] | None], counts: Counts, store: BudgetStore | None = None
    ) -> None:
        self._data = limits
        self._counts = counts
        self._store = store or MemoryBudgets()
        self._parsed: tuple[Mapping[str, Any] | None, BudgetLimits] = (None, BudgetLimits())
        self._spent: dict[tuple[Scope, str], _Tally] = {}
        self._pending: dict[tuple[Scope, str], _Reserved] = {}
        self._trips: deque[BudgetFigure] = deque(maxlen=50)

    @property
    def limits(self) -> BudgetLimits:
        """The budgets of the policy data loaded now (parsed again only when it was reloaded)."""
        data = self._data()
        if data is not self._parsed[0]:
            self._parsed = (data, BudgetLimits.from_data(data))
            for problem in self._parsed[1].problems:
                logger.error("policy data: %s; every call is refused until it is fixed", problem)
        return self._parsed[1]

    def measure(
        self,
        workflow: str,
        principal: str,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        read_only: bool,
        blast_radius: Sequence[str] = (),
    ) -> tuple[BudgetSignal, BudgetMark]:
        """This call's figures against every budget that applies, and its reservation. The figures
        given are those of the budgets this call brings to `NEAR` of their limit or past it."""
        limits = self.limits
        if not (limits.calls or limits.resources or limits.sums or limits.problems) and (
            read_only or not limits.mutations
        ):
            return _UNMEASURED, _NO_MARK  # the common case of a read under the default budgets
        resources = _resources(blast_radius, {"args": dict(arguments)}) if limits.resources else frozenset()
        amounts = {s.name: amount for s in limits.sums if s.applies(tool) and (amount := _amount(arguments, s.path))}
        shares: list[_Share] = []
        for scope, key in zip(SCOPES, (workflow, principal), strict=True):
            counted = scope in limits.resources
            sums = {s.name: amounts[s.name] for s in limits.sums if s.name in amounts and s.limit(scope) is not None}
            shares.append(_Share(scope, key, resources if counted else frozenset(), sums, counted))
        figures: list[BudgetFigure] = []
        for share in shares:
            figures += self._figures(limits, share, read_only)
        mark = BudgetMark(tuple(shares), not read_only, tuple(blast_radius) if limits.resources else (), arguments)
        for share in shares:
            pending = self._pending.setdefault((share.scope, share.key), _Reserved())
            pending.calls += 1
            pending.mutations += int(mark.mutation)
            for resource in share.resources:
                pending.resources[resource] = pending.resources.get(resource, 0) + 1
            for name, amount in share.sums.items():
                pending.sums[name] = pending.sums.get(name, 0.0) + amount
        exceeded = [f for f in figures if f.exceeded]
        self._trips.extend(exceeded)
        reasons = [*limits.problems, *(f.message or "" for f in exceeded)]
        shown = [f for f in figures if f.exceeded or f.spent + f.amount >= NEAR * f.limit]
        return BudgetSignal.model_construct(
            tripped=bool(reasons), figures=shown, reason="; ".join(reasons) or None
        ), mark

    def _figures(self, limits: BudgetLimits, share: _Share, read_only: bool) -> list[BudgetFigure]:
        scope, key = share.scope, share.key
        figures: list[BudgetFigure] = []
        pending = self._pending.get((scope, key)) or _NOTHING_RESERVED
        who = f"{_WHO[scope]} {key}"
        calls, mutations = self._counts(scope, key) if limits.calls or limits.mutations else (0, 0)
        if (limit := limits.calls.get(scope)) is not None:
            spent: float = calls + pending.calls
            figures.append(_figure("calls", share, spent, 1, limit, f"{who} has used its budget of {_n(limit)} calls"))
        if not read_only and (limit := limits.mutations.get(scope)) is not None:
            spent = mutations + pending.mutations
            message = f"{who} has used its budget of {_n(limit)} mutating calls"
            figures.append(_figure("mutations", share, spent, 1, limit, message))
        if not share.resources and not share.sums:
            return figures
        tally = self._tally(scope, key)
        if share.resources and (limit := limits.resources.get(scope)) is not None:
            known = tally.resources | pending.resources.keys()
            new = len(share.resources - known)
            message = (
                f"{who} would touch {len(known) + new} distinct resources, over its budget of {_n(limit)} "
                f"(touched {len(known)})"
            )
            figures.append(_figure("resources", share, len(known), new, limit, message))
        for sum_limit in limits.sums:
            amount = share.sums.get(sum_limit.name)
            cap = sum_limit.limit(scope)
            if amount is None or cap is None:
                continue
            spent = tally.sums.get(sum_limit.name, 0.0) + pending.sums.get(sum_limit.name, 0.0)
            message = (
                f"{who} would move {_n(amount)} {sum_limit.name}, over its budget of {_n(cap)} (spent {_n(spent)})"
            )
            figures.append(_figure(sum_limit.name, share, spent, amount, cap, message))
        return figures

    def _tally(self, scope: Scope, key: str) -> _Tally:
        tally = self._spent.get((scope, key))
        if tally is None:
            resources, sums = self._store.budget_tally(scope, key)
            tally = self._spent[(scope, key)] = _Tally(resources=resources, sums=dict(sums))
        return tally

    def settle(self, mark: BudgetMark, ran: bool, result: Any = None) -> None:
        """Drop the call's reservation; if it ran, what it touched and moved is spent, durably."""
        later: frozenset[str] = frozenset()
        if ran and mark.templates:  # keys that name the result ({result.id}) are known only now
            later = _resources(mark.templates, {"args": dict(mark.arguments), "result": result})
        for share in mark.shares:
            pending = self._pending.get((share.scope, share.key))
            if pending is not None:
                pending.calls -= 1
                pending.mutations -= int(mark.mutation)
                for name, amount in share.sums.items():
                    pending.sums[name] -= amount
                for resource in share.resources:
                    if (left := pending.resources[resource] - 1) > 0:
                        pending.resources[resource] = left
                    else:
                        del pending.resources[resource]
                if pending.calls <= 0:
                    del self._pending[(share.scope, share.key)]
            if ran:
                self._spend(share, share.resources | later if share.counts_resources else frozenset())

    def _spend(self, share: _Share, resources: frozenset[str]) -> None:
        if not resources and not share.sums:
            return
        tally = self._tally(share.scope, share.key)
        new = sorted(resources - tally.resources)
        if not new and not share.sums:
            return
        tally.resources.update(new)
        for name, amount in share.sums.items():
            tally.sums[name] = tally.sums.get(name, 0.0) + amount
        self._store.save_budget(share.scope, share.key, new, {name: tally.sums[name] for name in share.sums})

    def state(self, near: float = 0.8) -> dict[str, Any]:
        """For status and metrics: the budgets, the recent trips, and the tallies at `near` or more
        of a limit (resources and sums; call counts are the workflow book's)."""
        limits = self.limits
        close: list[dict[str, Any]] = []
        for (scope, key), tally in self._spent.items():
            limit = limits.resources.get(scope)
            if limit and len(tally.resources) >= near * limit:
                close.append(
                    {"scope": scope, "key": key, "budget": "resources", "spent": len(tally.resources), "limit": limit}
                )
            for sum_limit in limits.sums:
                cap = sum_limit.limit(scope)
                spent = tally.sums.get(sum_limit.name, 0.0)
                if cap and spent >= near * cap:
                    close.append({"scope": scope, "key": key, "budget": sum_limit.name, "spent": spent, "limit": cap})
        return {
            "problems": list(limits.problems),
            "near_limits": close,
            "recent_trips": [
                {
                    "scope": f.scope,
                    "key": f.key,
                    "budget": f.budget,
                    "spent": f.spent,
                    "amount": f.amount,
                    "limit": f.limit,
                }
                for f in reversed(self._trips)
            ],
        }


def _figure(budget: str, share: _Share, spent: float, amount: float, limit: float, message: str) -> BudgetFigure:
    exceeded = spent + amount > limit
    return BudgetFigure.model_construct(
        budget=budget,
        scope=share.scope,
        key=share.key,
        spent=float(spent),
        amount=float(amount),
        limit=limit,
        exceeded=exceeded,
        message=message if exceeded else None,
    )


def _amount(arguments: Mapping[str, Any], path: str) -> float | None:
    try:
        value = lookup(arguments, path)
    except TemplateError:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return abs(float(value)) or None


def _resources(templates: Sequence[str], data: Mapping[str, Any]) -> frozenset[str]:
    """The blast-radius keys that render from `data` (templates naming missing paths are skipped)."""
    keys: set[str] = set()
    for template in templates:
        try:
            keys.add(str(render(template, data)))
        except TemplateError:
            continue
    return frozenset(keys)


def _n(value: float) -> str:
    """A figure as people write it: 12000, not 12000.0."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
