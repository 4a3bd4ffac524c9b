"""Ledger events: what each kind of entry records, one frozen model per `EntryKind`.

A writer builds an event and hands it to the ledger (`Ledger.append(event)`); the entry's `data`
is `event.data()`: every field that was set, and no other. A field that a kind records only
sometimes (`call.held`'s `approval_id`, `quarantine`'s `workflow` or `principal`) has a default and
is absent from the entry unless it was given, so an event records exactly the keys the same entry
always had and old ledgers read the same. Fields are typed as the recorded data is (the vocabularies
of `DESIGN.md` as literals: this module imports nothing of the gateway but the kinds).

Events are built validated, the pipeline's per-call ones too: for models this small pydantic's
validation is cheaper than `model_construct` (about 3 µs against 5 µs for a `call.intent`, measured
with pydantic 2.14), and it checks the types. Data read back from a file (the approvals outbox)
becomes its event through `event_from`.
`EVENTS` maps every kind to its model, and this module does not import unless each kind has
exactly one. Approvals and the saga write through the `Record` port the composition root hands them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from gateway.ledger.entry import EntryKind

Effect = Literal["allow", "deny", "require_approval"]
Reversibility = Literal["read_only", "reversible", "compensable", "irreversible"]
Impact = Literal["low", "medium", "high", "critical"]
ManifestSource = Literal["manifest", "annotations", "default"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LedgerEvent(_Frozen):
    """One entry's kind and data. Concrete events name their `kind`."""

    kind: ClassVar[EntryKind]

    def data(self) -> dict[str, Any]:
        """The entry's `data`: the fields set, so an optional key left out stays out (not null)."""
        return self.model_dump(exclude_unset=True)


class Record(Protocol):
    """Where a package that does not own the ledger writes its events (approvals, the saga)."""

    async def __call__(self, event: LedgerEvent, /) -> None: ...


# -- calls ----------------------------------------------------------------------------------------


class RequiredApprovers(_Frozen):
    role: str
    count: int


class DecisionRecord(_Frozen):
    """The policy decision a call entry carries (`decision`)."""

    id: str
    effect: Effect
    reasons: list[str]
    approvers: list[RequiredApprovers]
    guards: dict[str, dict[str, Any]] = {}
    """The guards that tripped on this call (`loop`, `budget`, `rate`), each with its figures as the
    policy saw them in `input.signals`; absent when none did."""


class ManifestRecord(_Frozen):
    """What the gateway knew of the tool when it recorded the intent (`manifest`)."""

    source: ManifestSource
    reversibility: Reversibility
    impact: Impact
    side_effects: list[str]
    compensation: str | None


class _Call(LedgerEvent):
    """Who called what: the fields every entry of a call through the pipeline starts with."""

    correlation_id: str
    principal: str
    workflow: str
    step: str | None
    tool: str | None
    """The resolved upstream tool (`server/tool`); None when the name did not resolve."""
    requested_name: str


class CallIntent(_Call):
    kind = EntryKind.CALL_INTENT
    roles: list[str]
    arguments: dict[str, Any]
    manifest: ManifestRecord | None
    decision: DecisionRecord | None
    compensation: bool
    approval: str | None = None
    """The approval an approved call runs under."""


class CallHeld(_Call):
    kind = EntryKind.CALL_HELD
    arguments: dict[str, Any]
    decision: DecisionRecord | None
    answer: Any
    call_digest: str | None = None
    approval_id: str | None = None


class CallRefused(LedgerEvent):
    """A call not run: refused by policy (as `call.held`'s fields), rejected before any decision
    (`error`), a meta-tool refused, or a request refused at the edge (`method`, `session`)."""

    kind = EntryKind.CALL_REFUSED
    principal: str
    correlation_id: str | None = None
    workflow: str | None = None
    step: str | None = None
    tool: str | None = None
    requested_name: str | None = None
    method: str | None = None
    session: str | None = None
    error: Any = None
    arguments: dict[str, Any] | None = None
    decision: DecisionRecord | None = None
    answer: Any = None
    call_digest: str | None = None
    approval_id: str | None = None


class CallResult(_Call):
    kind = EntryKind.CALL_RESULT
    intent_seq: int
    duration_ms: float
    status: Literal["ok", "tool_error", "error"]
    result: Any = None
    """The (masked, possibly digested) result, for `ok` and `tool_error`."""
    error: Any = None
    """The (masked) error message, for `error`."""


class CallOutcomeUnknown(LedgerEvent):
    """Forwarded, and no outcome seen. Start-up recovery knows only the intent's columns."""

    kind = EntryKind.CALL_OUTCOME_UNKNOWN
    correlation_id: str
    principal: str | None
    workflow: str | None
    tool: str | None
    intent_seq: int
    reason: Any
    step: str | None = None
    requested_name: str | None = None
    duration_ms: float | None = None


class CallSnapshot(LedgerEvent):
    kind = EntryKind.CALL_SNAPSHOT
    correlation_id: str
    principal: str
    workflow: str
    tool: str | None
    read: str
    """The manifest's read tool that took the before-image."""
    arguments: Any
    snapshot: Any = None
    error: Any = None


# -- the gateway ----------------------------------------------------------------------------------


class GatewayStart(LedgerEvent):
    kind = EntryKind.GATEWAY_START
    version: str
    key_id: str
    unknown_outcomes: list[int]
    """Intent seqs that start-up recovery marked `call.outcome_unknown`."""
    upstreams: list[str]


class GatewayStop(LedgerEvent):
    kind = EntryKind.GATEWAY_STOP
    version: str


class KeyRotated(LedgerEvent):
    kind = EntryKind.KEY_ROTATED
    key_id: str
    reason: Literal["created", "rotated"]
    previous_key_id: str | None = None


class PolicyReload(LedgerEvent):
    """A load attempt of the policy files: what loaded (`modules`, `sha256`, `engine`), or `error`."""

    kind = EntryKind.POLICY_RELOAD
    ok: bool
    modules: list[str] | None = None
    sha256: str | None = None
    engine: str | None = None
    error: str | None = None
    directory: str | None = None


class ManifestsReload(LedgerEvent):
    """A load attempt of the manifest files: their digests and entry count, or `error`."""

    kind = EntryKind.MANIFESTS_RELOAD
    ok: bool
    files: dict[str, str] | None = None
    entries: int | None = None
    error: str | None = None
    directory: str | None = None


class UpstreamRefused(LedgerEvent):
    kind = EntryKind.UPSTREAM_REFUSED
    upstream: str
    error: str


# -- workflows and rollback -----------------------------------------------------------------------


class WorkflowCheckpoint(LedgerEvent):
    kind = EntryKind.CHECKPOINT
    workflow: str
    label: str
    after_step: int


class Quarantine(LedgerEvent):
    """A workflow (`workflow`) or an agent (`principal`) refused until released."""

    kind = EntryKind.QUARANTINE
    reason: str
    workflow: str | None = None
    principal: str | None = None


class QuarantineReleased(LedgerEvent):
    kind = EntryKind.QUARANTINE_RELEASED
    by: str
    workflow: str | None = None
    principal: str | None = None


class RollbackStarted(LedgerEvent):
    kind = EntryKind.ROLLBACK_STARTED
    workflow: str
    scope: str
    plan: list[dict[str, Any]]
    """The planned actions, newest step first (as `RollbackReport.plan`)."""


class RollbackFinished(LedgerEvent):
    kind = EntryKind.ROLLBACK_FINISHED
    workflow: str
    compensated: list[int]
    not_applied: list[int]
    escalated: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    status: str


class StepReconciled(LedgerEvent):
    kind = EntryKind.STEP_RECONCILED
    workflow: str
    step: int
    tool: str
    took_effect: bool


class Compensated(LedgerEvent):
    kind = EntryKind.COMPENSATION
    workflow: str
    step: int
    tool: str
    compensation: str
    """The compensating tool that ran."""
    attempts: int


# -- approvals ------------------------------------------------------------------------------------


class ApprovalEvent(LedgerEvent):
    """The ticket as it stood when the event reached the ledger, then what happened to it.

    The queue stores what happened in its outbox and adds the ticket's summary when it relays the
    event (`ApprovalQueue`); a ticket gone by then leaves only `approval_id`."""

    approval_id: str
    call_digest: str | None = None
    correlation_id: str | None = None
    principal: str | None = None
    workflow: str | None = None
    tool: str | None = None
    state: str | None = None
    decision_id: str | None = None
    awaiting: list[str] | None = None


class ApprovalRequested(ApprovalEvent):
    kind = EntryKind.APPROVAL_REQUESTED


class ApprovalGranted(ApprovalEvent):
    kind = EntryKind.APPROVAL_GRANTED
    approver: str
    roles: list[str]
    comment: str
    complete: bool
    """The approvals the rules need are all in: the call will run."""


class ApprovalDenied(ApprovalEvent):
    """Denied by an approver (with `roles`), or withdrawn by the agent that asked (`withdrawn`)."""

    kind = EntryKind.APPROVAL_DENIED
    approver: str
    reason: str
    roles: list[str] | None = None
    withdrawn: bool | None = None


class ApprovalExpired(ApprovalEvent):
    kind = EntryKind.APPROVAL_EXPIRED
    reason: str


class ApprovalExecuted(ApprovalEvent):
    kind = EntryKind.APPROVAL_EXECUTED
    is_error: bool


class ApprovalFailed(ApprovalEvent):
    kind = EntryKind.APPROVAL_FAILED
    error: str


class ApprovalTampered(ApprovalEvent):
    """Never run: the ticket no longer matches the call that was held and recorded."""

    kind = EntryKind.APPROVAL_TAMPERED
    error: str


class ApprovalOutcomeUnknown(ApprovalEvent):
    kind = EntryKind.APPROVAL_OUTCOME_UNKNOWN
    reason: str


class ApprovalRemediated(ApprovalEvent):
    """A manual-remediation item approved: a person says the step is dealt with."""

    kind = EntryKind.APPROVAL_REMEDIATED
    approvals: int


# -- the operator's guards: the kill switch and pinned tool definitions ---------------------------


class CallsStopped(LedgerEvent):
    """The kill switch: every new call refused, of everyone (`all`) or of one `principal`.
    (Not `gateway.stopped`: `gateway.stop` is the process ending.)"""

    kind = EntryKind.CALLS_STOPPED
    by: str
    reason: str
    all: bool
    principal: str | None = None


class CallsResumed(LedgerEvent):
    kind = EntryKind.CALLS_RESUMED
    by: str
    all: bool
    principal: str | None = None
    stopped_by: str
    """Who had stopped them (the record that was lifted)."""


class ToolDefinitionChanged(LedgerEvent):
    """An upstream lists a tool whose definition is not the pinned one: held until accepted."""

    kind = EntryKind.TOOL_DEFINITION_CHANGED
    tool: str
    """`server/tool`, as the ledger's tool column indexes calls."""
    pinned_digest: str
    digest: str
    changes: list[str]


class ToolDefinitionAccepted(LedgerEvent):
    kind = EntryKind.TOOL_DEFINITION_ACCEPTED
    tool: str
    by: str
    digest: str
    previous_digest: str


class OperatorRefused(LedgerEvent):
    """An operator's action asked with a token that may not take it (an agent's: 403)."""

    kind = EntryKind.OPERATOR_REFUSED
    action: str
    status: int
    reason: str
    principal: str | None = None
    """The agent whose token was used, when the token is an agent's."""


def _by_kind(*models: type[LedgerEvent]) -> Mapping[EntryKind, type[LedgerEvent]]:
    """The models by kind; refuses a kind with no model or with two."""
    found: dict[EntryKind, type[LedgerEvent]] = {}
    for model in models:
        if model.kind in found:
            raise TypeError(f"{model.kind} has two event models: {found[model.kind].__name__}, {model.__name__}")
        found[model.kind] = model
    if missing := [kind.value for kind in EntryKind if kind not in found]:
        raise TypeError(f"entry kinds without an event model: {', '.join(missing)}")
    return found


EVENTS = _by_kind(
    CallIntent,
    CallHeld,
    CallRefused,
    CallResult,
    CallOutcomeUnknown,
    CallSnapshot,
    GatewayStart,
    GatewayStop,
    KeyRotated,
    PolicyReload,
    ManifestsReload,
    UpstreamRefused,
    WorkflowCheckpoint,
    Quarantine,
    QuarantineReleased,
    RollbackStarted,
    RollbackFinished,
    StepReconciled,
    Compensated,
    ApprovalRequested,
    ApprovalGranted,
    ApprovalDenied,
    ApprovalExpired,
    ApprovalExecuted,
    ApprovalFailed,
    ApprovalTampered,
    ApprovalOutcomeUnknown,
    ApprovalRemediated,
    CallsStopped,
    CallsResumed,
    ToolDefinitionChanged,
    ToolDefinitionAccepted,
    OperatorRefused,
)


def event_from(kind: str, data: Mapping[str, Any]) -> LedgerEvent:
    """The event a stored `kind` and `data` record, validated (`ValueError` for an unknown kind,
    `pydantic.ValidationError` for data that is not that kind's)."""
    return EVENTS[EntryKind(kind)].model_validate(data)
