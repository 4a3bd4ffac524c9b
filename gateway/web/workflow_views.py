"""The bodies of the workflow and agent REST operations, and what they answer (see `workflows_api.py`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.saga.model import StepStatus, WorkflowStatus

StepNumber = Annotated[int, Field(strict=True, ge=1)]


class RollbackBody(BaseModel):
    """At most one of to_checkpoint, steps and resource (a null one is absent); none: the whole
    workflow. A checkpoint, step or resource the workflow does not have is a 404: scopes are exact."""

    model_config = ConfigDict(extra="forbid")
    to_checkpoint: str | None = Field(None, min_length=1, description="undo the steps after this checkpoint")
    steps: list[StepNumber] | None = Field(None, min_length=1, description="undo only these steps")
    resource: str | None = Field(None, min_length=1, description="undo the steps touching this resource key")
    dry_run: bool = Field(False, description="answer the plan; change nothing")


class QuarantineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class ReleaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepView(BaseModel):
    step: int
    tool: str
    status: StepStatus
    reversibility: str
    resources: list[str]
    compensation: str | None
    """The exposed name of the tool that undoes it, if one is declared."""


class CheckpointView(BaseModel):
    label: str
    after_step: int


class WorkflowView(BaseModel):
    workflow: str
    status: WorkflowStatus
    reason: str | None
    steps: list[StepView]
    checkpoints: list[CheckpointView]


class AgentView(BaseModel):
    principal: str
    status: Literal["active", "quarantined"]
