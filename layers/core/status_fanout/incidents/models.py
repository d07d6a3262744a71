"""Pydantic models: the domain as stored, and the requests staff send.

Timestamps are kept as Statuspage-formatted strings (UTC, ms, Z) so that they
sort lexicographically in DynamoDB keys and round-trip byte for byte.
"""

# No `from __future__ import annotations` here: pydantic would compile and
# eval every field's annotation string at class creation, on each cold start.
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
Impact = Literal["none", "minor", "major", "critical"]

COMPONENT_ID_PATTERN = r"^[a-z0-9-]{1,64}$"
ComponentId = Annotated[str, StringConstraints(pattern=COMPONENT_ID_PATTERN)]
# Path parameters with a rule: (pattern, what a 422 naming the parameter says).
# Other ids are opaque: a value that is no id is a 404.
PATH_PARAMETERS = {"component_id": (COMPONENT_ID_PATTERN, "must be 1-64 characters of a-z, 0-9 and -")}

MAX_NAME = 255
MAX_BODY = 20_000
# DynamoDB transactions hold at most 100 writes: the update, the incident and
# one per component. The contract's ceiling (docs/contract.md §8) is 100; ours is the one that fits.
MAX_COMPONENTS_PER_REQUEST = 98

Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)]
ComponentChanges = Annotated[dict[ComponentId, ComponentStatus], Field(max_length=MAX_COMPONENTS_PER_REQUEST)]


# Schemas are built on first use, not at import: cold start pays only for
# the models a request actually touches.
_lazy = ConfigDict(defer_build=True)


class Component(BaseModel):
    model_config = _lazy
    id: str
    name: str
    group: str | None = None
    description: str | None = None
    status: ComponentStatus = "operational"
    position: int = 0
    created_at: str
    updated_at: str


class AffectedComponent(BaseModel):
    model_config = _lazy
    code: str
    name: str
    old_status: ComponentStatus
    new_status: ComponentStatus


class IncidentUpdate(BaseModel):
    model_config = _lazy
    id: str
    incident_id: str
    seq: int
    status: IncidentStatus
    body: str
    created_at: str
    updated_at: str
    display_at: str
    affected_components: list[AffectedComponent] | None = None
    deliver_notifications: bool = True
    backfilled: bool = False
    # The incident's version this update created: a per-incident sequence
    # that webhook receivers can order events by.
    incident_version: int = 0


class Incident(BaseModel):
    model_config = _lazy
    id: str
    name: str
    status: IncidentStatus
    impact: Impact
    created_at: str
    updated_at: str
    started_at: str
    monitoring_at: str | None = None
    resolved_at: str | None = None
    postmortem_body: str | None = None
    postmortem_published_at: str | None = None
    postmortem_updated_at: str | None = None
    postmortem_notify: bool = False
    component_ids: list[str] = Field(default_factory=list)
    # Optimistic-lock counter and the number of updates ever added.
    version: int = 0
    seq: int = 0


# --- requests -------------------------------------------------------------

_strict = ConfigDict(extra="forbid", defer_build=True)


class ComponentPut(BaseModel):
    model_config = _strict
    name: Name
    group: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)] | None = None
    description: Annotated[str, StringConstraints(max_length=MAX_BODY)] | None = None
    status: ComponentStatus = "operational"
    position: Annotated[int, Field(ge=0, le=100_000)] | None = None


class ComponentPatch(BaseModel):
    model_config = _strict
    status: ComponentStatus


class IncidentCreate(BaseModel):
    model_config = _strict
    name: Name
    status: IncidentStatus
    impact: Impact | None = None
    body: Body
    components: ComponentChanges | None = None
    notify: bool = True
    display_at: AwareDatetime | None = None


class UpdateCreate(BaseModel):
    model_config = _strict
    status: IncidentStatus
    body: Body
    impact: Impact | None = None
    components: ComponentChanges | None = None
    notify: bool = True
    display_at: AwareDatetime | None = None


class UpdateCorrect(BaseModel):
    model_config = _strict
    body: Body | None = None
    display_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if self.body is None and self.display_at is None:
            raise ValueError("give body or display_at")
        return self


class PostmortemPut(BaseModel):
    model_config = _strict
    body: Body
    notify: bool = True
    display_at: AwareDatetime | None = None


class PageQuery(BaseModel):
    model_config = _strict
    limit: Annotated[int, Field(ge=1, le=100, description="Items per page")] = 20
    cursor: Annotated[str | None, Field(max_length=2048, description="next_cursor of the previous page")] = None
