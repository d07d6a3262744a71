"""The rules of a scheduled maintenance, pure: scheduling, rescheduling,
cancelling, updates by hand, and the clock's three steps (docs/maintenance.md).

A maintenance is an incident whose impact is "maintenance" (Statuspage's
model), so it is stored, published and notified through the incident core;
each update says which step it was (`IncidentUpdate.step`), which is its
event type (`maintenance.<step>`) and its label.

The clock's steps are applied at most once each: a step applies only from
the state it expects (a reminder to a scheduled maintenance not yet
reminded; the start to a scheduled one; the completion to one in progress
or verifying), only for the schedule it was set for (`schedule_sequence`),
and never to a cancelled maintenance. The write that records it is
conditional on the version read, so two firings at once cannot both apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from status_fanout.errors import ConflictError, InvalidFieldError
from status_fanout.incidents.lifecycle import FUTURE_SKEW, derive, effective_time, new_id
from status_fanout.incidents.models import (
    MAINTENANCE,
    AffectedComponent,
    Component,
    ComponentStatus,
    Incident,
    IncidentUpdate,
    MaintenanceStatus,
    MaintenanceStep,
)
from status_fanout.maintenance.window import window_text
from status_fanout.timefmt import format_ts, parse_ts, truncate_ms

Step = Literal["reminder", "start", "complete"]
STEPS: tuple[Step, ...] = ("reminder", "start", "complete")
# Statuspage's own texts for the automatic updates (data/statuspage-maintenance/).
REMINDER_BODY = "Maintenance will begin as scheduled in {lead}."
STARTED_BODY = "Scheduled maintenance is currently in progress. We will provide updates as necessary."
COMPLETED_BODY = "The scheduled maintenance has been completed."
CANCELLED_BODY = "This scheduled maintenance has been cancelled."
# The new window in the page's zone, as every channel shows it (maintenance.window).
RESCHEDULED_BODY = "This maintenance has been rescheduled: {window}."
UNDER_MAINTENANCE: ComponentStatus = "under_maintenance"
# Moves by hand, from each status (a completed maintenance is over).
ALLOWED: dict[str, tuple[str, ...]] = {
    "scheduled": ("scheduled", "in_progress", "verifying", "completed"),
    "in_progress": ("in_progress", "verifying", "completed"),
    "verifying": ("in_progress", "verifying", "completed"),
    "completed": (),
}


def _ts(value: datetime) -> str:
    return format_ts(truncate_ms(value))


def _check_window(start: datetime, end: datetime, now: datetime, backfill: bool) -> None:
    if end <= start:
        raise InvalidFieldError("scheduled_until", "must be after scheduled_for")
    if not backfill and start <= now - FUTURE_SKEW:
        raise InvalidFieldError("scheduled_for", "must be in the future (give display_at to record a past one)")


def reminds(start: datetime, now: datetime, lead: timedelta, wanted: bool) -> bool:
    """A reminder is sent only if the start is more than the lead away: one
    scheduled 20 minutes ahead has just been announced."""
    return wanted and start - now > lead


def _update(incident: Incident, seq: int, status: MaintenanceStatus, body: str, step: MaintenanceStep, when: str,
            notify: bool, backfilled: bool = False,
            affected: list[AffectedComponent] | None = None) -> IncidentUpdate:
    return IncidentUpdate(
        id=new_id(), incident_id=incident.id, seq=seq, status=status, body=body, created_at=when, updated_at=when,
        display_at=when, affected_components=affected or None, deliver_notifications=notify and not backfilled,
        backfilled=backfilled, step=step,
    )


def schedule(*, name: str, body: str, scheduled_for: datetime, scheduled_until: datetime,
             component_ids: list[str], components: Mapping[str, Component], notify: bool, remind_prior: bool,
             auto_in_progress: bool, auto_completed: bool, display_at: datetime | None, now: datetime,
             reminder_lead: timedelta) -> tuple[Incident, IncidentUpdate]:
    """A new maintenance, announced (status `scheduled`); a backfill (display_at)
    records a past one, never notifies and sets no clock."""
    when, backfilled = effective_time(display_at, now)
    _check_window(scheduled_for, scheduled_until, now, backfilled)
    for component_id in component_ids:
        if component_id not in components:
            raise InvalidFieldError(f"components.{component_id}", "unknown component")
    ids = list(dict.fromkeys(component_ids))
    incident = Incident(
        id=new_id(), name=name, status="scheduled", impact=MAINTENANCE, created_at=when, updated_at=when,
        started_at=when, component_ids=ids, scheduled_for=_ts(scheduled_for), scheduled_until=_ts(scheduled_until),
        scheduled_remind_prior=not backfilled and reminds(scheduled_for, now, reminder_lead, remind_prior),
        scheduled_auto_in_progress=auto_in_progress and not backfilled,
        scheduled_auto_completed=auto_completed and not backfilled, seq=1,
    )
    affected = [AffectedComponent(code=c, name=components[c].name, old_status=components[c].status,
                                  new_status=components[c].status) for c in ids]
    update = _update(incident, 1, "scheduled", body, "scheduled", when, notify, backfilled, affected)
    return derive(incident, [update]), update


def due_at(incident: Incident, step: Step, reminder_lead: timedelta) -> datetime | None:
    """When the clock takes this step, or None if it never will."""
    if not incident.is_maintenance or incident.cancelled_at or incident.scheduled_for is None:
        return None
    if step == "reminder":
        if not incident.scheduled_remind_prior or incident.scheduled_reminded_at:
            return None
        return parse_ts(incident.scheduled_for) - reminder_lead
    if step == "start":
        return parse_ts(incident.scheduled_for) if incident.scheduled_auto_in_progress else None
    if incident.scheduled_until is None:
        return None
    return parse_ts(incident.scheduled_until) if incident.scheduled_auto_completed else None


def take_step(incident: Incident, updates: list[IncidentUpdate], step: Step, sequence: int,
              components: Mapping[str, Component], now: datetime, reminder_lead: timedelta,
              ) -> tuple[Incident, IncidentUpdate] | None:
    """The clock's step, or None when it no longer applies: the maintenance was
    cancelled, rescheduled since (another sequence), moved on by hand, or the
    step was taken already."""
    if incident.cancelled_at or sequence != incident.schedule_sequence or due_at(incident, step, reminder_lead) is None:
        return None
    when, seq = _ts(now), incident.seq + 1
    if step == "reminder":
        if incident.status != "scheduled":
            return None
        minutes = max(1, round(reminder_lead.total_seconds() / 60))
        lead = f"{minutes} minute" + ("" if minutes == 1 else "s")
        update = _update(incident, seq, "scheduled", REMINDER_BODY.format(lead=lead), "reminder", when, True)
        changed = incident.model_copy(update={"scheduled_reminded_at": when})
    elif step == "start":
        if incident.status != "scheduled":
            return None
        return start(incident, updates, STARTED_BODY, True, components, now)
    else:
        if incident.status not in ("in_progress", "verifying"):
            return None
        return complete(incident, updates, COMPLETED_BODY, "completed", True, components, now)
    changed = changed.model_copy(update={"seq": seq, "updated_at": max(incident.updated_at, when)})
    return derive(changed, [*updates, update]), update


def start(incident: Incident, updates: list[IncidentUpdate], body: str, notify: bool,
          components: Mapping[str, Component], now: datetime) -> tuple[Incident, IncidentUpdate]:
    """In progress: its components go under maintenance, their statuses kept to restore."""
    when, seq = _ts(now), incident.seq + 1
    present = [c for c in incident.component_ids if c in components]
    affected = [AffectedComponent(code=c, name=components[c].name, old_status=components[c].status,
                                  new_status=UNDER_MAINTENANCE) for c in present]
    restore = {c: components[c].status for c in present if components[c].status != UNDER_MAINTENANCE}
    update = _update(incident, seq, "in_progress", body, "started", when, notify, affected=affected)
    changed = incident.model_copy(update={"seq": seq, "updated_at": max(incident.updated_at, when),
                                          "restore_statuses": restore})
    return derive(changed, [*updates, update]), update


def complete(incident: Incident, updates: list[IncidentUpdate], body: str, step: MaintenanceStep, notify: bool,
             components: Mapping[str, Component], now: datetime) -> tuple[Incident, IncidentUpdate]:
    """Completed (or cancelled): components still under maintenance go back to
    what they were before it started; one staff changed meanwhile stays as set."""
    when, seq = _ts(now), incident.seq + 1
    affected = [AffectedComponent(code=c, name=components[c].name, old_status=UNDER_MAINTENANCE,
                                  new_status=incident.restore_statuses.get(c, "operational"))
                for c in incident.component_ids if c in components and components[c].status == UNDER_MAINTENANCE
                and incident.status in ("in_progress", "verifying")]
    update = _update(incident, seq, "completed", body, step, when, notify, affected=affected)
    changed = incident.model_copy(update={"seq": seq, "updated_at": max(incident.updated_at, when)})
    return derive(changed, [*updates, update]), update


def add_update(incident: Incident, updates: list[IncidentUpdate], *, status: MaintenanceStatus, body: str,
               notify: bool, display_at: datetime | None, components: Mapping[str, Component], now: datetime,
               ) -> tuple[Incident, IncidentUpdate]:
    """An update by hand: news, an early start, verifying, an early end."""
    if incident.cancelled_at:
        raise ConflictError("the maintenance was cancelled")
    if status not in ALLOWED[incident.status]:
        raise InvalidFieldError("status", f"a maintenance that is {incident.status} cannot become {status}")
    if display_at is not None:  # backfilling a past maintenance's history
        when, backfilled = effective_time(display_at, now)
        update = _update(incident, incident.seq + 1, status, body, "updated", when, notify, backfilled)
        changed = incident.model_copy(update={"seq": incident.seq + 1, "updated_at": max(incident.updated_at, when)})
        return derive(changed, [*updates, update]), update
    if incident.status == "scheduled" and status in ("in_progress", "verifying"):
        started, update = start(incident, updates, body, notify, components, now)
        if status == "verifying":
            update = update.model_copy(update={"status": "verifying"})
            started = derive(started, [*updates, update])
        return started, update
    if status == "completed":
        return complete(incident, updates, body, "completed", notify, components, now)
    when, seq = _ts(now), incident.seq + 1
    update = _update(incident, seq, status, body, "updated", when, notify)
    changed = incident.model_copy(update={"seq": seq, "updated_at": max(incident.updated_at, when)})
    return derive(changed, [*updates, update]), update


def reschedule(incident: Incident, updates: list[IncidentUpdate], *, name: str | None,
               scheduled_for: datetime | None, scheduled_until: datetime | None, body: str | None, notify: bool,
               now: datetime, reminder_lead: timedelta, tz: tzinfo = UTC) -> tuple[Incident, IncidentUpdate | None]:
    """New times (and or a new name) for a maintenance not yet started. New
    times raise the schedule's sequence and tell subscribers once; a new name
    alone tells nobody. A new start without a new end keeps its length."""
    if incident.cancelled_at:
        raise ConflictError("the maintenance was cancelled")
    changes: dict[str, object] = {"updated_at": max(incident.updated_at, _ts(now))}
    if name is not None:
        changes["name"] = name
    if scheduled_for is None and scheduled_until is None:
        return incident.model_copy(update=changes), None
    if incident.status != "scheduled":
        raise ConflictError(f"the maintenance is {incident.status}: only one not yet started can be rescheduled")
    old_start, old_end = parse_ts(incident.scheduled_for or ""), parse_ts(incident.scheduled_until or "")
    start_at = scheduled_for or old_start
    # A new start alone moves the whole window: the maintenance keeps its length.
    end_at = scheduled_until or (start_at + (old_end - old_start) if scheduled_for else old_end)
    _check_window(start_at, end_at, now, backfill=False)
    when, seq = _ts(now), incident.seq + 1
    remind = reminds(start_at, now, reminder_lead, incident.scheduled_remind_prior or
                     incident.scheduled_reminded_at is not None)
    changes.update(scheduled_for=_ts(start_at), scheduled_until=_ts(end_at), seq=seq,
                   schedule_sequence=incident.schedule_sequence + 1, scheduled_remind_prior=remind,
                   scheduled_reminded_at=None)
    text = body or RESCHEDULED_BODY.format(window=window_text(_ts(start_at), _ts(end_at), tz))
    update = _update(incident, seq, "scheduled", text, "rescheduled", when, notify)
    return derive(incident.model_copy(update=changes), [*updates, update]), update


def cancel(incident: Incident, updates: list[IncidentUpdate], *, body: str | None, notify: bool,
           now: datetime) -> tuple[Incident, IncidentUpdate]:
    """Ends a maintenance not yet started: its steps will do nothing, and it
    reads `completed` to Statuspage clients, whose model has no cancelled."""
    if incident.cancelled_at:
        raise ConflictError("the maintenance was cancelled already")
    if incident.status != "scheduled":
        raise ConflictError(f"the maintenance is {incident.status}: post a completed update to end it")
    when, seq = _ts(now), incident.seq + 1
    update = _update(incident, seq, "completed", body or CANCELLED_BODY, "cancelled", when, notify)
    changed = incident.model_copy(update={"seq": seq, "updated_at": max(incident.updated_at, when),
                                          "cancelled_at": when})
    return derive(changed, [*updates, update]), update
