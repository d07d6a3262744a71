"""Real maintenance events, as the planner snapshots them: two maintenances of
the seed's page run through `maintenance.lifecycle` step by step, each update
snapshotted (`Planner._incident_event`) right after it was made, as the
stream delivers it.

- "Mail relay upgrade" (SMTP Email, POP3/IMAP Email): scheduled, rescheduled
  a day later, reminded, started by the clock, updated by hand, completed by
  the clock.
- "Marketing database migration" (Email Marketing): scheduled, then cancelled.

Between the seven events every step (`maintenance.<step>`) occurs once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from status_fanout.delivery.events import EventSnapshot
from status_fanout.delivery.planner import EventRef, Planner
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.maintenance import lifecycle
from status_fanout.publishing import public_json
from tests.unit.email.test_messages import SETTINGS
from tests.unit.publishing.test_feeds import seed_components

LEAD = timedelta(minutes=60)
ANNOUNCED = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
# 02:00-04:00 EST on Dec 3, then moved to 02:00-04:30 EST on Dec 4
START, END = datetime(2026, 12, 3, 7, 0, tzinfo=UTC), datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
MOVED_START, MOVED_END = START + timedelta(days=1), END + timedelta(days=1, minutes=30)
NAME, CANCELLED_NAME = "Mail relay upgrade", "Marketing database migration"
RELAY_COMPONENTS = ["smtp-email", "pop3-imap-email"]
STEPS = ("scheduled", "reminder", "started", "updated", "rescheduled", "completed", "cancelled")
# The windows as every channel shows them: both maintenances' first, the relay upgrade's after its move.
FIRST_WINDOW, MOVED_WINDOW = "Dec 3, 2026 - 02:00 – 04:00 EST", "Dec 4, 2026 - 02:00 – 04:30 EST"

Maintenance = tuple[Incident, list[IncidentUpdate]]


def _apply(components: dict[str, Component], update: IncidentUpdate) -> None:
    """What the service writes with an update: the components it moves (MaintenanceService._save)."""
    for affected in update.affected_components or []:
        if affected.code in components and components[affected.code].status != affected.new_status:
            components[affected.code] = components[affected.code].model_copy(
                update={"status": affected.new_status, "updated_at": update.created_at})


class _Run:
    """One maintenance's life, each of its events snapshotted as it happens."""

    def __init__(self, components: dict[str, Component]) -> None:
        self.components = components
        self.planner = Planner(None, None, SETTINGS)  # type: ignore[arg-type]  # snapshots need no AWS
        self.incident: Incident | None = None
        self.updates: list[IncidentUpdate] = []
        self.events: list[EventSnapshot] = []

    def record(self, taken: tuple[Incident, IncidentUpdate | None] | None) -> None:
        assert taken is not None
        incident, update = taken
        assert update is not None
        self.incident, self.updates = incident, [*self.updates, update]
        _apply(self.components, update)
        if not update.deliver_notifications:
            return
        status = public_json.status_object(self.components.values(), [])
        event = self.planner._incident_event(EventRef("update", incident.id, update_seq=update.seq), incident,
                                             self.updates, dict(self.components), status)
        assert event is not None
        self.events.append(event)

    @property
    def state(self) -> Maintenance:
        assert self.incident is not None
        return self.incident, self.updates


def _schedule(run: _Run, name: str, body: str, components: list[str], start: datetime, end: datetime,
              notify: bool = True, now: datetime = ANNOUNCED) -> None:
    run.record(lifecycle.schedule(
        name=name, body=body, scheduled_for=start, scheduled_until=end, component_ids=components,
        components=run.components, notify=notify, remind_prior=True, auto_in_progress=True, auto_completed=True,
        display_at=None, now=now, reminder_lead=LEAD))


def relay_upgrade(first_notifies: bool = True) -> _Run:
    """Scheduled, rescheduled, reminded, started, updated, completed."""
    run = _Run(seed_components())
    _schedule(run, NAME, "We will upgrade the mail relays. Mail may queue for a few minutes.", RELAY_COMPONENTS,
              START, END, notify=first_notifies)
    incident, updates = run.state
    run.record(lifecycle.reschedule(
        incident, updates, name=None, scheduled_for=MOVED_START, scheduled_until=MOVED_END,
        body="We moved the upgrade by a day, and gave it half an hour more.", notify=True,
        now=ANNOUNCED + timedelta(days=1), reminder_lead=LEAD))
    for step, at in (("reminder", MOVED_START - LEAD), ("start", MOVED_START)):
        incident, updates = run.state
        run.record(lifecycle.take_step(incident, updates, step, incident.schedule_sequence,  # type: ignore[arg-type]
                                       run.components, at, LEAD))
    incident, updates = run.state
    run.record(lifecycle.add_update(
        incident, updates, status="in_progress", body="The first relay is upgraded; the second is next.",
        notify=True, display_at=None, components=run.components, now=MOVED_START + timedelta(hours=1)))
    incident, updates = run.state
    run.record(lifecycle.take_step(incident, updates, "complete", incident.schedule_sequence, run.components,
                                   MOVED_END, LEAD))
    return run


def database_migration() -> _Run:
    """Scheduled, then cancelled before it began."""
    run = _Run(seed_components())
    _schedule(run, CANCELLED_NAME, "We will migrate the marketing database.", ["email-marketing"], START, END)
    incident, updates = run.state
    run.record(lifecycle.cancel(incident, updates, body=None, notify=True, now=ANNOUNCED + timedelta(hours=2)))
    return run


@cache
def _events() -> tuple[EventSnapshot, ...]:
    return (*relay_upgrade().events, *database_migration().events)


def maintenance_events() -> list[EventSnapshot]:
    """Every maintenance event: the relay upgrade's six, then the migration's two."""
    return [e.model_copy(deep=True) for e in _events()]


def event_of(step: str, name: str | None = None) -> EventSnapshot:
    """The event of one step (`maintenance.<step>`); of the cancelled migration if `name` says so."""
    wanted = name or (CANCELLED_NAME if step == "cancelled" else NAME)
    return next(e for e in maintenance_events()
                if e.type == f"maintenance.{step}" and (e.incident or {}).get("name") == wanted)


def window_of(step: str) -> str:
    """The window the event of `step` (of `event_of(step)`) shows: the one it had when the step was taken."""
    return FIRST_WINDOW if step in ("scheduled", "cancelled") else MOVED_WINDOW
