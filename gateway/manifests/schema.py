"""The tool manifest schema (version 1): what a tool does to the world and how to undo it.

Manifests live in `tool_manifests/*.yaml`; `tool_manifests/schema.json` is exported from these
models (`rollgate manifests schema`) so editors can validate the files.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.manifests.templates import check_template_roots


class Reversibility(StrEnum):
    READ_ONLY = "read_only"
    REVERSIBLE = "reversible"
    COMPENSABLE = "compensable"
    IRREVERSIBLE = "irreversible"


class Impact(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ArgumentTemplates = dict[str, Any]
"""Tool arguments whose string values may be templates: `"{args.id}"` or `"acct {result.id}"`."""


class VerifySpec(_Model):
    """A read tool run after a compensation, and what its result must contain."""

    tool: str
    args: ArgumentTemplates = {}
    expect: dict[str, Any] = {}
    """Data paths of the verify result (`result.status`) and the values they must have (templates allowed)."""

    @field_validator("args", "expect")
    @classmethod
    def _roots(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_template_roots(value, {"args", "result", "snapshot", "compensation"})


class CompensationSpec(_Model):
    tool: str
    """The tool that undoes this one, on the same upstream (for example `refund` for `transfer`)."""
    args: ArgumentTemplates = {}
    verify: VerifySpec | None = None
    idempotent: bool = False
    """Sending it twice does no more than once (it writes a value back, deletes by id). A
    compensation is otherwise sent at most once: if it was sent and the state is not restored,
    a person is asked; an idempotent one is sent again by the next rollback."""

    @field_validator("args")
    @classmethod
    def _roots(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_template_roots(value, {"args", "result", "snapshot"})


class SnapshotSpec(_Model):
    tool: str
    """A read tool called before the mutation; its result is the before-image."""
    args: ArgumentTemplates = {}
    volatile: list[str] = []
    """Fields of the before-image that change by themselves (timestamps) and are not compared."""

    @field_validator("args")
    @classmethod
    def _roots(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_template_roots(value, {"args"})


class ReconcileSpec(_Model):
    """A read that tells whether a call whose outcome the gateway did not see (a timeout, a lost
    upstream, a cancellation) took effect, and stands in for its result if it did.

    It must identify the call's own effect (by a key the caller chose, an e-mail, a memo), not
    just any similar one: an effect found by mistake would be compensated."""

    tool: str
    args: ArgumentTemplates = {}
    found: str = "result"
    """The data path of the read's result (`result.…`) that holds the effect when it happened:
    null, missing or empty means it did not. Its value is the call's result for the compensation."""

    @field_validator("args")
    @classmethod
    def _roots(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_template_roots(value, {"args", "snapshot"})

    @field_validator("found")
    @classmethod
    def _found_root(cls, value: str) -> str:
        if value != "result" and not value.startswith("result."):
            raise ValueError("must be a path of the read's result: result or result.<field>")
        return value


class LeaseSpec(_Model):
    """How a call of this tool meets another workflow's call on one of its blast-radius keys
    (`gateway.guards.leases`); unset fields take `[guards.leases]` from the configuration."""

    mode: Literal["wait", "refuse"] | None = None
    """wait: up to `wait_seconds` for the other call to finish; refuse: at once."""
    wait_seconds: Annotated[float, Field(ge=0, le=50)] | None = None


class ToolManifest(_Model):
    """One tool (or a glob of tools) of one upstream server (or a glob of servers)."""

    server: Annotated[str, Field(min_length=1)] = "*"
    tool: Annotated[str, Field(min_length=1)]
    reversibility: Reversibility
    impact: Impact
    side_effects: list[str] = []
    compensation: CompensationSpec | None = None
    snapshot: SnapshotSpec | None = None
    reconcile: ReconcileSpec | None = None
    """How a rollback learns whether a call of unknown outcome took effect (else the snapshot
    read is compared with the before-image, else a person is asked)."""
    idempotency_key: str | None = None
    blast_radius: list[str] = []
    labels: dict[str, str] = {}
    atomic: bool = False
    """A failure of this tool rolls its whole workflow back (the workflow is atomic around it)."""
    lease: LeaseSpec | None = None
    """How a mutating call waits for the blast-radius keys another workflow's call holds."""

    @field_validator("blast_radius")
    @classmethod
    def _blast_roots(cls, value: list[str]) -> list[str]:
        check_template_roots({str(i): v for i, v in enumerate(value)}, {"args", "result"})
        return value

    @field_validator("idempotency_key")
    @classmethod
    def _key_roots(cls, value: str | None) -> str | None:
        if value is not None:
            check_template_roots({"key": value}, {"args", "principal", "workflow"})
        return value


class ManifestFile(_Model):
    version: Literal[1] = 1
    tools: list[ToolManifest]
