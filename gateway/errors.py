"""Rollgate's named exceptions, each mapped once at the edge to an MCP error or an HTTP status.

RollgateError
├── ConfigError              bad rollgate.toml: names the key and says what is wrong  (start-up)
├── CatalogError             two upstreams expose the same aggregated name            (start-up)
├── ManifestError            a tool manifest file does not validate                   (start-up, reload)
├── PolicyError              a policy does not compile, or its engine failed          (deny, logged)
├── AuthenticationError      missing or unknown bearer token                          (HTTP 401)
├── ApprovalRefused          policy, asked again at execution, refused an approved call (ticket failed)
├── StoreError               a state store cannot be opened, read or written          (start-up, CLI)
│   └── LedgerBusyError      another process is writing this ledger                   (start-up, CLI)
└── CallError                a call the gateway refuses or cannot complete            (MCP error)
    ├── UnknownToolError     no upstream offers that name                             (-32602)
    ├── InvalidArgumentsError arguments do not validate against the inputSchema       (-32602)
    ├── UpstreamError        the upstream crashed, hung, timed out or is restarting   (-32603)
    ├── UnrecordedError      the ledger could not record the call: nothing is answered (-32603)
    ├── NotYoursError        the workflow, session or object belongs to another principal (-32602)
    ├── LimitError           a configured limit (sessions, plan size, nesting) is reached (-32602)
    └── TemplateError        a manifest template names a path the call does not have  (-32602)
"""

from __future__ import annotations

from mcp_types import INTERNAL_ERROR, INVALID_PARAMS


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


class StoreError(RollgateError):
    """A state store cannot be opened, read or written; nothing recorded is changed."""


class LedgerBusyError(StoreError):
    """Another process (a running gateway) owns the ledger; only one may append to a hash chain."""


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


class UpstreamError(CallError):
    code = INTERNAL_ERROR


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
