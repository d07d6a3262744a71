"""Pydantic models: the domain as stored, and the requests staff send.

Timestamps are kept as Statuspage-formatted strings (UTC, ms, Z) so that they
sort lexicographically in DynamoDB keys and round-trip byte for byte.
"""

# No `from __future__ import annotations` here: pydantic would compile and
# eval every field's annotation string at class creation, on each cold start.
from collections.abc import Callable
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
# A scheduled maintenance is an incident whose impact is "maintenance", as in
# Statuspage (docs/maintenance.md); these are its statuses.
MaintenanceStatus = Literal["scheduled", "in_progress", "verifying", "completed"]
Impact = Literal["none", "minor", "major", "critical"]
MAINTENANCE: Literal["maintenance"] = "maintenance"
# What a maintenance's update did: its event type and its label.
MaintenanceStep = Literal["scheduled", "reminder", "started", "updated", "rescheduled", "completed", "cancelled"]

COMPONENT_ID_PATTERN = r"^[a-z0-9-]{1,64}$"
ComponentId = Annotated[str, StringConstraints(pattern=COMPONENT_ID_PATTERN)]
# Staff name templates as they name components: a slug (docs/templates.md).
TEMPLATE_ID_PATTERN = COMPONENT_ID_PATTERN
TemplateId = Annotated[str, StringConstraints(pattern=TEMPLATE_ID_PATTERN)]
SLUG_RULE = "must be 1-64 characters of a-z, 0-9 and -"
# Path parameters with a rule: (pattern, what a 422 naming the parameter says).
# Other ids are opaque: a value that is no id is a 404.
PATH_PARAMETERS = {"component_id": (COMPONENT_ID_PATTERN, SLUG_RULE), "template_id": (TEMPLATE_ID_PATTERN, SLUG_RULE)}

MAX_NAME = 255
MAX_BODY = 20_000
# DynamoDB transactions hold at most 100 writes: the update, the incident, one
# per component and the request's audit entry (which a change never lands
# without). The contract's ceiling (docs/contract.md §8) is 100; ours is the one that fits.
MAX_COMPONENTS_PER_REQUEST = 97

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
    status: IncidentStatus | MaintenanceStatus
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
    # A maintenance's update: which step of its lifecycle it is.
    step: MaintenanceStep | None = None
    # Who posted it: the staff key's name, `bootstrap` for a deploy-time token,
    # None for the maintenance clock's steps. The staff API shows it; the public surface never does.
    created_by: str | None = None


class Incident(BaseModel):
    model_config = _lazy
    id: str
    name: str
    status: IncidentStatus | MaintenanceStatus
    impact: Impact | Literal["maintenance"]
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
    # Who opened it (as IncidentUpdate.created_by): staff API only.
    created_by: str | None = None
    # A maintenance's schedule (None and False for an incident), Statuspage's names.
    scheduled_for: str | None = None
    scheduled_until: str | None = None
    scheduled_remind_prior: bool = False
    scheduled_reminded_at: str | None = None
    scheduled_auto_in_progress: bool = False
    scheduled_auto_completed: bool = False
    cancelled_at: str | None = None
    # Raised by each reschedule: a schedule made for an earlier one does nothing,
    # and the calendar's SEQUENCE says the event moved.
    schedule_sequence: int = 0
    # The components' statuses when it started, restored when it completes.
    restore_statuses: dict[str, ComponentStatus] = Field(default_factory=dict)

    @property
    def is_maintenance(self) -> bool:
        return self.impact == MAINTENANCE


class Template(BaseModel):
    """A template as stored: what an incident or maintenance opened from it starts with."""

    model_config = _lazy
    id: str
    name: str
    title: str
    body: str
    status: IncidentStatus | None = None
    impact: Impact | None = None
    components: dict[str, ComponentStatus] | None = None
    created_at: str
    updated_at: str


# --- requests -------------------------------------------------------------

_strict = ConfigDict(extra="forbid", defer_build=True)


def _may_come_from_a_template(*fields: str) -> Callable[[dict[str, Any]], None]:
    """The documented body of a route that takes `template`: these fields may
    come from the template, so the request itself need not give them. The
    request merged with its template is validated by the model as it stands,
    required fields and all (docs/templates.md)."""

    def document(schema: dict[str, Any]) -> None:
        required = [f for f in schema.pop("required", []) if f not in fields]
        if required:  # an empty list is no valid JSON Schema of OpenAPI 3.0
            schema["required"] = required

    return document


def _template_field() -> Any:
    return Field(default=None, description="a template's id: its fields fill this request's, and those given here "
                 "override them (docs/templates.md)")


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
    model_config = ConfigDict(extra="forbid", defer_build=True,
                              json_schema_extra=_may_come_from_a_template("name", "status", "body"))
    template: TemplateId | None = _template_field()
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


class MaintenanceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True,
                              json_schema_extra=_may_come_from_a_template("name", "body"))
    template: TemplateId | None = _template_field()
    name: Name
    body: Body
    scheduled_for: AwareDatetime
    scheduled_until: AwareDatetime
    components: Annotated[list[ComponentId], Field(max_length=MAX_COMPONENTS_PER_REQUEST)] = Field(
        default_factory=list)
    notify: bool = True
    remind_prior: bool = True
    auto_in_progress: bool = True
    auto_completed: bool = True
    # Backfill: a past maintenance, recorded as it happened (never notifies, no clock).
    display_at: AwareDatetime | None = None


class MaintenanceUpdateCreate(BaseModel):
    model_config = _strict
    status: MaintenanceStatus
    body: Body
    notify: bool = True
    display_at: AwareDatetime | None = None


class MaintenancePatch(BaseModel):
    model_config = _strict
    name: Name | None = None
    scheduled_for: AwareDatetime | None = None
    scheduled_until: AwareDatetime | None = None
    body: Body | None = Field(default=None, description="what subscribers are told of the new times")
    notify: bool = True

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if self.name is None and self.scheduled_for is None and self.scheduled_until is None:
            raise ValueError("give name, scheduled_for or scheduled_until")
        return self


class MaintenanceCancel(BaseModel):
    model_config = _strict
    body: Body | None = None
    notify: bool = True


class MaintenanceQuery(BaseModel):
    model_config = _strict
    status: Literal["upcoming", "active", "completed"] | None = Field(
        default=None, description="upcoming (scheduled), active (in progress or verifying), completed")
    limit: Annotated[int, Field(ge=1, le=100, description="Items per page")] = 20
    cursor: Annotated[str | None, Field(max_length=2048, description="next_cursor of the previous page")] = None


class TemplatePut(BaseModel):
    """A template: `name` is the template's own, `title` the name of what is
    opened from it; the rest are IncidentCreate's fields, with its rules."""

    model_config = _strict
    name: Name
    title: Name
    body: Body
    status: IncidentStatus | None = None
    impact: Impact | None = None
    components: ComponentChanges | None = None


class PageQuery(BaseModel):
    model_config = _strict
    limit: Annotated[int, Field(ge=1, le=100, description="Items per page")] = 20
    cursor: Annotated[str | None, Field(max_length=2048, description="next_cursor of the previous page")] = None
