"""The bodies of the kill switch and tool-definition operations, and what they answer (`guards_api.py`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.guards.pins import HeldTool, PinsState
from gateway.guards.stop import Stop, StopState

__all__ = [
    "AcceptBody",
    "AcceptedView",
    "HeldTool",
    "PinsState",
    "ResumeBody",
    "StopAnswer",
    "StopBody",
    "StopState",
]

AgentId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^*]")]


class _Whom(BaseModel):
    """Exactly one of `all: true` and `agent`."""

    model_config = ConfigDict(extra="forbid")
    all: bool = Field(False, description="every agent's calls")
    agent: AgentId | None = Field(None, description="one agent's calls")

    @model_validator(mode="after")
    def _one(self) -> _Whom:
        if self.all == (self.agent is not None):
            raise ValueError('give exactly one of "all": true and "agent"')
        return self


class StopBody(_Whom):
    reason: str = Field(min_length=1, max_length=2000)


class ResumeBody(_Whom):
    pass


class StopAnswer(BaseModel):
    changed: bool
    """Whether this request engaged (or lifted) a stop; false: it was so already."""
    stop: Stop | None
    """The stop engaged or lifted (the one in force, when it was engaged already)."""
    state: StopState


class AcceptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digest: str | None = Field(
        None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="the held digest you reviewed (GET /api/tools/changed); refused (409) if it moved since",
    )


class AcceptedView(BaseModel):
    tool: str
    by: str
    digest: str
    previous_digest: str
