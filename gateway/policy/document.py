"""The policy input and decision documents (version `rollgate.policy/v1`).

Input: what the policy sees about one call. Decision: what it must answer. Both are pydantic
models, so their JSON Schemas are exported for policy authors (`rollgate policy schema`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

INPUT_VERSION = "rollgate.policy/v1"


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrincipalDoc(_Doc):
    id: str
    roles: list[str]
    quarantined: bool = False
    """An operator quarantined this principal: its calls in every workflow are refused."""
    quarantine_reason: str | None = None
    quarantined_workflows: list[str] = []
    """Workflows this principal owns that are quarantined (a new workflow id does not escape them)."""
    mutations: int = 0
    """Mutating calls of this principal that were forwarded (in this gateway process)."""


class WorkflowDoc(_Doc):
    id: str
    owner: str | None = None
    """The principal the workflow belongs to (its first caller)."""
    status: Literal["active", "quarantined", "rolled_back"] = "active"
    status_reason: str | None = None
    """Why the workflow is quarantined (or rolled back), as the operator or rollback said."""
    steps: int = 0
    """Calls of this workflow forwarded so far."""
    mutations: int = 0
    """Forwarded calls whose tool is not read_only."""
    budget: dict[str, float] = {}
    """Budget counters in use (for example `mutations`), compared with `data.rollgate.budgets`."""


class ToolDoc(_Doc):
    name: str
    """The name the client used (the exposed, namespaced name)."""
    server: str
    upstream_name: str
    qualified: str
    """`server/upstream_name`: the tool that will actually run."""
    manifest: dict[str, Any]
    manifest_source: Literal["manifest", "annotations", "default"]
    annotations: dict[str, Any] = {}
    definition_changed: bool = False
    """The upstream changed this tool's definition (description, schemas, annotations) since it was
    pinned, and no operator has accepted the new one yet."""


class CallDoc(_Doc):
    correlation_id: str
    step: str | None = None
    meta: dict[str, Any] = {}
    confidence: float | None = None
    """The agent's own confidence, from `_meta["rollgate/confidence"]` (0..1), when it sent one."""
    idempotency_key: str | None = None


class TimeDoc(_Doc):
    now: str
    unix: float
    weekday: int
    """0 = Monday."""
    hour: int


class ApprovalDoc(_Doc):
    """Present when the call runs because people approved it: policy is asked again at execution."""

    id: str
    approvers: list[str]
    granted: bool = True


class LoopSignal(_Doc):
    """The loop guard (`gateway.guards.loops`): calls of this tool in this workflow that ran in the
    window before this one, with the same arguments and with any."""

    tripped: bool
    same_call: int
    same_tool: int
    same_call_limit: int
    same_tool_limit: int
    window_seconds: float
    kind: Literal["same_call", "same_tool"] | None = None
    quarantine: bool = False
    """The configuration asks for a tripped loop to quarantine its workflow."""
    retry_after: float | None = None
    reason: str | None = None


class BudgetFigure(_Doc):
    budget: str
    """calls, mutations, resources, or a sum's name (amount_cents)."""
    scope: Literal["workflow", "principal"]
    key: str
    spent: float
    amount: float
    """What this call would add."""
    limit: float
    exceeded: bool
    message: str | None = None


class BudgetSignal(_Doc):
    """The budget guard (`gateway.guards.budgets`): each budget of `data.rollgate.budgets` that
    this call brings to half its limit or past it, with what was spent, what this call adds and
    the limit (budgets further from their limits are left out, to keep the input small)."""

    tripped: bool
    figures: list[BudgetFigure] = []
    reason: str | None = None


class RateSignal(_Doc):
    """The rate guard (`gateway.guards.rates`): tripped when a token bucket was empty."""

    tripped: bool
    bucket: Literal["principal", "tool"] | None = None
    rate: float | None = None
    burst: float | None = None
    retry_after: float | None = None
    reason: str | None = None


class BreakerSignal(_Doc):
    """The circuit breakers of this call's upstream and tool (`gateway.guards.breakers`)."""

    tripped: bool = False
    """A breaker is open (or half-open with its probe in flight): the call would not be let through."""
    scope: Literal["upstream", "tool"] | None = None
    """Which breaker refuses: the upstream's (transport failures) or this agent's tool's (error results)."""
    name: str | None = None
    """The upstream's name, or the tool's qualified name."""
    state: Literal["closed", "open", "half_open"] = "closed"
    failures: int = 0
    """Consecutive failures counted by that breaker."""
    retry_after: float | None = None
    """Seconds left of the cool-down."""


class LeaseSignal(_Doc):
    """The resource leases this mutating call needs (`gateway.guards.leases`), as they stand when
    policy decides: the leases are taken after approval, just before the intent is recorded."""

    keys: list[str] = []
    """The blast-radius keys rendered from the call's arguments (`account:42`)."""
    held_by_other: bool = False
    """Another workflow's call holds a lease on one of the keys now (it is not said whose)."""
    key: str | None = None
    """The first key another workflow holds."""
    mode: Literal["wait", "refuse"] = "wait"
    wait_seconds: float = 0.0
    """How long the call will wait for the lease (mode `wait`). The lease stage refuses the call
    itself when it cannot take the lease; a policy may refuse or hold a call whose key is busy."""


class SignalsDoc(_Doc):
    """What the guard stages measured for this call (`gateway.guards`), each guard one field.

    A guard computes its figures and whether its default limit is passed (`tripped`); the default
    policy denies a tripped guard, and a policy of one's own may react otherwise. A tripped guard
    that can say when a call may succeed again gives `retry_after` (seconds), which the refusal
    carries to the agent."""

    loop: LoopSignal | None = None
    """Absent while the call's counts are below half their limits (as `budget`), to keep the input small."""
    budget: BudgetSignal | None = None
    rate: RateSignal | None = None
    breaker: BreakerSignal | None = None
    """Absent while the call's breakers are closed with no failures counted."""
    lease: LeaseSignal | None = None
    """Absent for a call that needs no lease (a read, no blast-radius key known before it runs)."""

    def retry_after(self) -> float | None:
        """The longest `retry_after` of the tripped guards, if every tripped guard gives one (a
        budget that is spent, or a quarantining loop, will not pass by waiting)."""
        waits: list[float | None] = [getattr(getattr(self, name), "retry_after", None) for name in self.tripped()]
        known = [float(wait) for wait in waits if wait is not None]
        return max(known) if known and len(known) == len(waits) else None

    def tripped(self) -> list[str]:
        """The names of the guards that tripped on this call."""
        return [
            name
            for name in type(self).model_fields
            if (signal := getattr(self, name)) is not None and getattr(signal, "tripped", False)
        ]


class PolicyInput(_Doc):
    version: Literal["rollgate.policy/v1"] = "rollgate.policy/v1"
    principal: PrincipalDoc
    workflow: WorkflowDoc
    tool: ToolDoc
    arguments: dict[str, Any]
    call: CallDoc
    compensation: bool = False
    approval: ApprovalDoc | None = None
    time: TimeDoc
    signals: SignalsDoc = SignalsDoc()


class ApproverRule(_Doc):
    role: Annotated[str, Field(min_length=1)]
    count: Annotated[int, Field(ge=1, le=20)] = 1


class Obligations(_Doc):
    mask: list[str] = []
    """Data paths (`args.card_number`, `result.token`) stored only as salted digests in the ledger."""
    snapshot_required: bool = False
    max_approval_wait_seconds: Annotated[float, Field(gt=0)] | None = None
    approval_mode: Literal["wait", "task", "pending"] | None = None
    quarantine: bool = False
    rollback: bool = False
    atomic: bool = False
    """If this call fails, roll its workflow back."""


class Decision(_Doc):
    effect: Effect
    reasons: list[str] = []
    approvers: list[ApproverRule] = []
    obligations: Obligations = Obligations()
    decision_id: str = ""
    matched: list[str] = []
    """Rules that produced the decision, when the policy reports them (for `policy eval`)."""
