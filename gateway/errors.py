"""Rollgate's named exceptions, each mapped once at the edge to an MCP error or an HTTP status.

RollgateError
├── ConfigError              bad rollgate.toml: names the key and says what is wrong  (start-up)
├── CatalogError             two upstreams expose the same aggregated name            (start-up)
├── ManifestError            a tool manifest file does not validate                   (start-up, reload)
├── PolicyError              a policy does not compile, or its engine failed          (deny, logged)
├── AuthenticationError      missing or unknown bearer token                          (HTTP 401)
├── ApprovalRefused          policy, asked again at execution, refused an approved call (ticket failed)
├── WouldOverwriteError      `rollgate init` found its files already there; wrote none (CLI exit 2)
├── ApprovalError            an approver's action that cannot be applied              (HTTP status, CLI exit 1)
│   ├── NotFound             no such ticket                                           (HTTP 404)
│   ├── NotAllowed           the approver may not decide this ticket                  (HTTP 403)
│   ├── AlreadyDecided       the ticket is decided already                            (HTTP 409)
│   └── Tampered             the ticket no longer matches the held call: never run    (HTTP 409)
├── VerificationError        the ledger is not what was signed (names the entry)      (`ledger verify` exit 1)
├── ProofError               a Merkle proof does not prove what it claims             (verify, witness)
├── NoteError                a signed note is malformed or its signature fails        (verify)
├── NoteFormatError          a note, checkpoint or key is not in its spec's format    (witness)
├── CosignatureError         a witness cosignature is missing, malformed or invalid   (verify --witness)
├── SealError                a sealed value cannot be opened (wrong key, changed)     (shown masked)
├── LedgerClosed             the ledger is stopped: nothing more can be recorded      (shutdown)
├── NotSent                  a request never reached a stdio upstream's stdin: it cannot have run (-> UpstreamError)
├── WireTimeout              a stdio upstream did not answer in time (told to cancel) (-> OutcomeUnknownError)
├── CompensationFailed       a rollback's compensation did not undo its step          (escalated)
├── Undecided                no read tells whether an unknown step took effect        (escalated)
├── StaleDefinitionError     an operator accepts a tool definition no longer the held one (HTTP 409)
├── StoreError               a state store cannot be opened, read or written          (start-up, CLI)
│   ├── LedgerBusyError      another process is writing this ledger                   (start-up, CLI)
│   ├── OwnerBusyError       the state dir's owner cannot be followed or taken over   (start-up, exit 2)
│   └── LedgerTamperedError  the ledger does not extend what was signed: not opened   (start-up, exit 2)
├── WitnessError             a witness refuses to cosign a submitted checkpoint       (HTTP, c2sp.org/tlog-witness)
│   ├── MalformedSubmission  the add-checkpoint body is not in the protocol's format  (HTTP 400)
│   ├── UntrustedCheckpoint  no signature by a key the witness trusts for the origin  (HTTP 403)
│   ├── UnknownLog           the witness is not configured for the checkpoint origin  (HTTP 404)
│   ├── SizeConflict         old size is not the witness's, or same size, new root    (HTTP 409)
│   └── InconsistentCheckpoint the consistency proof does not verify                  (HTTP 422)
├── UnusableWitnessAnswer    a witness answered outside the protocol (or is ahead of the log) (push failed, logged)
└── CallError                a call the gateway refuses or cannot complete            (MCP error)
    ├── UnknownToolError     no upstream offers that name                             (-32602)
    ├── InvalidArgumentsError arguments do not validate against the inputSchema,      (-32602, HTTP 422)
    │                         or a rollback's selection is empty or mixed
    ├── InvalidRequestParams the request's params are not what the method takes        (-32602)
    ├── InvalidMetaToolArguments a meta-tool's arguments do not match its inputSchema   (-32602)
    ├── UpstreamError        the upstream crashed, hung, timed out or is restarting   (-32603)
    │   ├── InputRoundsExceeded  the upstream asked for input more rounds than allowed  (-32603)
    │   └── OutcomeUnknownError  sent, and no answer came: it may have taken effect     (-32603)
    ├── UnrecordedError      the ledger could not record the call: nothing is answered (-32603)
    ├── NotYoursError        the workflow, session or object belongs to another principal (-32602)
    ├── LimitError           a configured limit (sessions, plan size, nesting) is reached (-32602)
    ├── TemplateError        a manifest template names a path the call does not have  (-32602)
    ├── IdempotencyConflict  an idempotency key reused with other arguments             (-32602)
    └── NotFoundError        the request names something the gateway has no record of (-32602, HTTP 404)
        ├── UnknownWorkflowError  a workflow id nothing was ever recorded of
        ├── UnknownScopeError     a rollback names a step, checkpoint or resource its workflow does not have
        ├── UnknownPrincipalError an agent id that is not configured and was never seen
        └── NotHeldError          a tool with no changed definition waiting to be accepted
"""

from __future__ import annotations

INVALID_PARAMS = -32602
"""JSON-RPC 2.0, section 5.1 ("Invalid method parameter(s)"); MCP uses it for bad tool arguments."""
INTERNAL_ERROR = -32603
"""JSON-RPC 2.0, section 5.1 ("Internal JSON-RPC error").

Both are spelled here rather than imported from `mcp_types`, whose import costs every CLI command
about 0.1 s; tests/unit/test_errors.py checks that they equal the SDK's."""


class RollgateError(Exception):
    """Base of every error Rollgate raises on purpose."""


class ConfigError(RollgateError):
    """The configuration file or environment is invalid."""


class CatalogError(RollgateError):
    """The aggregated catalogue of upstream names is inconsistent (for example a collision)."""


class ManifestError(RollgateError):
    """A tool manifest file is invalid; the message names the file and the key."""


class PolicyError(RollgateError):
    """A policy failed to load or evaluate; calls fail closed (deny) while it lasts."""


class AuthenticationError(RollgateError):
    """An HTTP request carried no valid bearer token."""


class ApprovalRefused(RollgateError):
    """Policy, asked again when an approved call was to run, did not allow it; it did not run."""


class WouldOverwriteError(RollgateError):
    """`rollgate init` would replace files that exist (a configuration, an edited policy)."""


class StoreError(RollgateError):
    """A state store cannot be opened, read or written; nothing recorded is changed."""


class LedgerBusyError(StoreError):
    """Another process (a running gateway) owns the ledger; only one may append to a hash chain."""


class OwnerBusyError(StoreError):
    """Another process owns the state directory and this one can neither forward to it nor take it
    over (a second `serve`, or an owner whose socket does not answer)."""


class LedgerTamperedError(StoreError):
    """The ledger on disk is not an append-only extension of what this gateway wrote and signed:
    it is refused (nothing is appended or signed over it) until an operator has looked."""


class WitnessError(RollgateError):
    """A witness refuses to cosign a checkpoint; `status` is the HTTP status tlog-witness assigns."""

    status: int = 400


class MalformedSubmission(WitnessError):
    status = 400


class UntrustedCheckpoint(WitnessError):
    """No signature on the checkpoint verifies against a key the witness trusts for its origin."""

    status = 403


class UnknownLog(WitnessError):
    status = 404


class SizeConflict(WitnessError):
    """The submission's old size is not the size the witness last cosigned (`known_size` says it),
    or the sizes match and the roots do not (`known_size` is None: a fork, not a stale client)."""

    status = 409

    def __init__(self, message: str, known_size: int | None = None) -> None:
        super().__init__(message)
        self.known_size = known_size


class InconsistentCheckpoint(WitnessError):
    """The consistency proof does not lead from the cosigned tree to the submitted one."""

    status = 422


class UnusableWitnessAnswer(RollgateError):
    """A witness's answer is not one the protocol gives (or the witness is ahead of the log);
    `status` is its HTTP status when it had one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CallError(RollgateError):
    """A downstream request the gateway answers with an MCP error instead of forwarding."""

    code: int = INTERNAL_ERROR

    def __init__(self, message: str, *, data: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class UnknownToolError(CallError):
    code = INVALID_PARAMS


class InvalidArgumentsError(CallError):
    code = INVALID_PARAMS


class InvalidRequestParams(CallError):
    code = INVALID_PARAMS


class InvalidMetaToolArguments(CallError):
    code = INVALID_PARAMS


class UpstreamError(CallError):
    code = INTERNAL_ERROR


class InputRoundsExceeded(UpstreamError):
    """A stateless upstream kept answering `input_required` past `MAX_INPUT_ROUNDS` (upstream/modern.py)."""


class OutcomeUnknownError(UpstreamError):
    """The call went to the upstream and no answer came back (it timed out, the connection was
    lost): it may or may not have taken effect. Recorded `call.outcome_unknown`, never `error`;
    a mutation becomes a saga step in state `unknown`."""


class UnrecordedError(CallError):
    """The ledger failed to write a call's intent: the call is not forwarded, or (a read already
    forwarded) its answer is withheld."""

    code = INTERNAL_ERROR


class NotYoursError(CallError):
    """The call names a workflow (or another object) that belongs to another principal."""

    code = INVALID_PARAMS


class LimitError(CallError):
    """A configured limit was reached; the message names the key."""

    code = INVALID_PARAMS


class TemplateError(CallError):
    code = INVALID_PARAMS


class IdempotencyConflict(CallError):
    """An idempotency key that an earlier call of the workflow used with other arguments."""

    code = INVALID_PARAMS


class NotFoundError(CallError):
    """The request names a workflow, step, checkpoint, resource or agent the gateway has no record of;
    the message names it. Nothing was changed."""

    code = INVALID_PARAMS


class UnknownWorkflowError(NotFoundError):
    pass


class UnknownScopeError(NotFoundError):
    """A rollback names steps, a checkpoint or a resource that its workflow does not have."""


class UnknownPrincipalError(NotFoundError):
    pass


class NotHeldError(NotFoundError):
    """`rollgate tools accept` of a tool whose definition is not held (unknown, or unchanged)."""


class StaleDefinitionError(RollgateError):
    """The digest an operator accepted is not the held one: the upstream changed the tool again
    after it was reviewed. Nothing was accepted."""

    status = 409


class ApprovalError(RollgateError):
    """An approver's action that cannot be applied; `status` is the HTTP status it maps to."""

    status = 409


class NotFound(ApprovalError):
    status = 404


class NotAllowed(ApprovalError):
    status = 403


class AlreadyDecided(ApprovalError):
    status = 409


class Tampered(ApprovalError):
    """The ticket no longer matches the call that was held and recorded: it is never executed."""

    status = 409


class VerificationError(RollgateError):
    """The ledger is not what was signed; `seq` names the first bad entry when there is one."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class ProofError(RollgateError, ValueError):
    """A proof does not prove what it claims."""


class NoteError(RollgateError, ValueError):
    """A note is malformed or its signature does not verify."""


class NoteFormatError(RollgateError, ValueError):
    """A note, checkpoint or verifier key is not in the format its spec gives (c2sp.org/signed-note)."""


class CosignatureError(RollgateError, ValueError):
    """A cosignature is missing, malformed or does not verify (c2sp.org/tlog-cosignature)."""


class SealError(RollgateError):
    """A sealed value cannot be opened (wrong key, or the value was changed)."""


class LedgerClosed(RollgateError, RuntimeError):
    """The ledger is stopped; nothing more can be recorded."""


class CompensationFailed(RollgateError):
    """A compensation ran and did not undo its step (an error, or a mismatching verify read)."""


class Undecided(RollgateError):
    """No read tells whether an unknown step took effect, or the one that should could not run."""


class NotSent(RollgateError):
    """The request never reached the server's stdin (the pipe was closed): it cannot have run."""


class WireTimeout(RollgateError):
    """The server did not answer a raw request within its timeout (it was told to cancel it)."""
