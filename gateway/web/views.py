"""The approvals API's bodies: a ticket as approvers see it (`approvals.view`), with its
timeline; lists; approve and deny requests; errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.approvals.view import TicketView

__all__ = ["ApprovalList", "ApproveBody", "DenyBody", "ErrorBody", "TicketDetail", "TicketView"]


class TicketDetail(TicketView):
    timeline: list[str] = Field(default_factory=list)
    """The workflow's ledger so far, in plain language."""


class ApprovalList(BaseModel):
    approvals: list[TicketView]
    """Newest first."""


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field("", max_length=2000)


class DenyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class ErrorBody(BaseModel):
    error: str
    """What was wrong, naming the field, object or token concerned."""
