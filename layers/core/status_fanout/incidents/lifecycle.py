"""The incident lifecycle rules, as pure functions over the domain models.

Derived fields (status, started_at, monitoring_at, resolved_at) are always
recomputed from the full list of updates, so a backfilled or corrected update
can never leave the incident inconsistent with its history.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from status_fanout.errors import InvalidFieldError, NotFoundError
from status_fanout.incidents.models import (
    AffectedComponent,
    Component,
    ComponentStatus,
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
)
from status_fanout.timefmt import format_ts, truncate_ms

ID_ALPHABET = string.ascii_lowercase + string.digits
# A display_at this close to "now" is clock skew, not a time in the future.
FUTURE_SKEW = timedelta(minutes=2)

STATUS_LABELS: dict[str, str] = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    # A maintenance's, as Statuspage's page shows them
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}
# A maintenance's update is labelled by its step: what subscribers are told happened.
STEP_LABELS: dict[str, str] = {
    "scheduled": "Scheduled", "reminder": "Reminder", "started": "In progress", "updated": "Update",
    "rescheduled": "Rescheduled", "completed": "Completed", "cancelled": "Cancelled",
}
# What ends an incident (or a maintenance): its resolved_at is when the final run of these began.
FINAL_STATUSES = ("resolved", "completed")
POSTMORTEM_LABEL = "Postmortem"
UPDATE_LABEL = "Update"

COMPONENT_IMPACT: dict[str, Impact] = {
    "operational": "none",
    "under_maintenance": "none",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
IMPACT_ORDER: tuple[Impact, ...] = ("none", "minor", "major", "critical")


def new_id() -> str:
    """A 12-character id in Statuspage's alphabet, unguessable (60 bits)."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(12))


def display_order(updates: Iterable[IncidentUpdate]) -> list[IncidentUpdate]:
    """Oldest first by display time; ties keep the order they were posted in."""
    return sorted(updates, key=lambda u: (u.display_at, u.seq))


def labels(updates: Iterable[IncidentUpdate]) -> dict[str, str]:
    """Statuspage's label per update: "Update" when the status did not change;
    a maintenance's update, its step's."""
    ordered = display_order(updates)
    result = status_labels((update.id, update.status) for update in ordered)
    for update in ordered:
        if update.step is not None:
            result[update.id] = STEP_LABELS[update.step]
    return result


def status_labels(in_display_order: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The label of each (update id, status), oldest first; the one rule for
    models here and for the update objects of an event snapshot (email)."""
    result: dict[str, str] = {}
    previous: str | None = None
    for update_id, status in in_display_order:
        result[update_id] = UPDATE_LABEL if status == previous else STATUS_LABELS.get(status, status)
        previous = status
    return result


def impact_of(statuses: Iterable[str]) -> Impact:
    worst = 0
    for status in statuses:
        worst = max(worst, IMPACT_ORDER.index(COMPONENT_IMPACT[status]))
    return IMPACT_ORDER[worst]


def effective_time(display_at: datetime | None, now: datetime) -> tuple[str, bool]:
    """The update's display time and whether it is a backfill (never notifies)."""
    if display_at is None:
        return format_ts(truncate_ms(now)), False
    if display_at > now + FUTURE_SKEW:
        raise InvalidFieldError("display_at", "must not be in the future (it backfills history)")
    return format_ts(truncate_ms(display_at)), True


def derive(incident: Incident, updates: list[IncidentUpdate]) -> Incident:
    """Recompute the fields that follow from the updates."""
    ordered = display_order(updates)
    if not ordered:
        return incident
    latest = ordered[-1]
    monitoring_at = next((u.display_at for u in ordered if u.status == "monitoring"), None)
    resolved_at = None
    if latest.status in FINAL_STATUSES:
        # Resolved when the final run of "resolved" (or "completed") updates began.
        index = len(ordered) - 1
        while index > 0 and ordered[index - 1].status in FINAL_STATUSES:
            index -= 1
        resolved_at = ordered[index].display_at
    component_ids = list(incident.component_ids)
    for update in ordered:
        for affected in update.affected_components or []:
            if affected.code not in component_ids:
                component_ids.append(affected.code)
    return incident.model_copy(
        update={
            "status": latest.status,
            "started_at": ordered[0].display_at,
            "monitoring_at": monitoring_at,
            "resolved_at": resolved_at,
            "component_ids": component_ids,
        }
    )


def _affected(
    requested: Mapping[str, ComponentStatus] | None,
    components: Mapping[str, Component],
    previous: list[IncidentUpdate],
    backfilled: bool,
) -> list[AffectedComponent] | None:
    if not requested:
        return None
    result = []
    for component_id, new_status in requested.items():
        component = components.get(component_id)
        if component is None:
            raise InvalidFieldError(f"components.{component_id}", "unknown component")
        old_status: ComponentStatus = component.status
        if backfilled:
            # History is history: the status before a backfilled update is what
            # this incident last recorded, not today's live status.
            for update in reversed(display_order(previous)):
                recorded = {a.code: a.new_status for a in update.affected_components or []}
                if component_id in recorded:
                    old_status = recorded[component_id]
                    break
        result.append(AffectedComponent(code=component_id, name=component.name, old_status=old_status,
                                        new_status=new_status))
    return result


def open_incident(
    *,
    name: str,
    status: IncidentStatus,
    body: str,
    impact: Impact | None,
    requested_components: Mapping[str, ComponentStatus] | None,
    notify: bool,
    display_at: datetime | None,
    components: Mapping[str, Component],
    now: datetime,
) -> tuple[Incident, IncidentUpdate]:
    when, backfilled = effective_time(display_at, now)
    incident_id = new_id()
    affected = _affected(requested_components, components, [], backfilled)
    if impact is None:
        impact = impact_of(a.new_status for a in affected or [])
    incident = Incident(
        id=incident_id, name=name, status=status, impact=impact,
        created_at=when, updated_at=when, started_at=when,
    )
    update = IncidentUpdate(
        id=new_id(), incident_id=incident_id, seq=1, status=status, body=body,
        created_at=when, updated_at=when, display_at=when, affected_components=affected,
        deliver_notifications=notify and not backfilled, backfilled=backfilled,
    )
    incident = derive(incident.model_copy(update={"seq": 1}), [update])
    return incident, update


def add_update(
    incident: Incident,
    updates: list[IncidentUpdate],
    *,
    status: IncidentStatus,
    body: str,
    impact: Impact | None,
    requested_components: Mapping[str, ComponentStatus] | None,
    notify: bool,
    display_at: datetime | None,
    components: Mapping[str, Component],
    now: datetime,
) -> tuple[Incident, IncidentUpdate]:
    when, backfilled = effective_time(display_at, now)
    affected = _affected(requested_components, components, updates, backfilled)
    seq = incident.seq + 1
    update = IncidentUpdate(
        id=new_id(), incident_id=incident.id, seq=seq, status=status, body=body,
        created_at=when, updated_at=when, display_at=when, affected_components=affected,
        deliver_notifications=notify and not backfilled, backfilled=backfilled,
    )
    changed = incident.model_copy(
        update={
            "seq": seq,
            "impact": impact or incident.impact,
            "updated_at": max(incident.updated_at, when),
        }
    )
    return derive(changed, [*updates, update]), update


def correct_update(
    incident: Incident,
    updates: list[IncidentUpdate],
    update_id: str,
    *,
    body: str | None,
    display_at: datetime | None,
    now: datetime,
) -> tuple[Incident, IncidentUpdate]:
    target = next((u for u in updates if u.id == update_id), None)
    if target is None:
        raise NotFoundError(f"incident {incident.id} has no update {update_id}")
    changes: dict[str, object] = {"updated_at": format_ts(truncate_ms(now))}
    if body is not None:
        changes["body"] = body
    if display_at is not None:
        changes["display_at"], _ = effective_time(display_at, now)
    corrected = target.model_copy(update=changes)
    rest = [corrected if u.id == update_id else u for u in updates]
    touched = incident.model_copy(update={"updated_at": max(incident.updated_at, format_ts(truncate_ms(now)))})
    return derive(touched, rest), corrected


def publish_postmortem(
    incident: Incident, *, body: str, notify: bool, display_at: datetime | None, now: datetime
) -> Incident:
    when, backfilled = effective_time(display_at, now)
    first = incident.postmortem_published_at is None
    published_at = incident.postmortem_published_at or when
    # When the body last changed (Statuspage's postmortem_body_last_updated_at):
    # its first publication, then each re-PUT that changes the text. A re-PUT
    # of the same text (a replay, a retried request) moves nothing. Never
    # before the first publication, whatever a correction's display_at says.
    if first:
        body_updated_at = when
    elif body != incident.postmortem_body:
        body_updated_at = max(when, published_at)
    else:
        body_updated_at = incident.postmortem_updated_at or published_at
    return incident.model_copy(
        update={
            "postmortem_body": body,
            "postmortem_published_at": published_at,
            "postmortem_updated_at": body_updated_at,
            # A corrected postmortem never notifies again.
            "postmortem_notify": (notify and not backfilled) if first else incident.postmortem_notify,
            "updated_at": max(incident.updated_at, when),
        }
    )
