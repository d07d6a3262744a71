"""The maintenance's rules, pure (maintenance.lifecycle): what may happen
from each state, and that every clock step happens at most once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from status_fanout.errors import ConflictError, InvalidFieldError
from status_fanout.incidents.lifecycle import labels
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.maintenance import lifecycle

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
LEAD = timedelta(minutes=60)


State = tuple[Incident, list[IncidentUpdate], dict[str, Component]]


def components(**statuses: str) -> dict[str, Component]:
    return {cid: Component(id=cid, name=cid.upper(), status=status, created_at="x", updated_at="x")  # type: ignore[arg-type]
            for cid, status in statuses.items()}


def scheduled(start_in: timedelta = timedelta(hours=3), length: timedelta = timedelta(hours=1),
              remind: bool = True, comps: dict[str, Component] | None = None) -> State:
    comps = comps if comps is not None else components(api="operational", web="degraded_performance")
    incident, update = lifecycle.schedule(
        name="Database upgrade", body="We will upgrade the primary database.", scheduled_for=NOW + start_in,
        scheduled_until=NOW + start_in + length, component_ids=list(comps), components=comps, notify=True,
        remind_prior=remind, auto_in_progress=True, auto_completed=True, display_at=None, now=NOW,
        reminder_lead=LEAD)
    return incident, [update], comps


def step(state: State, name: lifecycle.Step, at: datetime, sequence: int | None = None) -> State | None:
    incident, updates, comps = state
    taken = lifecycle.take_step(incident, updates, name, incident.schedule_sequence if sequence is None else sequence,
                                comps, at, LEAD)
    if taken is None:
        return None
    changed, update = taken
    # The components as the service writes them with the update.
    for affected in update.affected_components or []:
        comps = {**comps, affected.code: comps[affected.code].model_copy(update={"status": affected.new_status})}
    return changed, [*updates, update], comps


def test_a_new_maintenance_is_announced_and_its_three_steps_are_due_at_their_times() -> None:
    # WHEN a maintenance is scheduled three hours ahead
    incident, [update], _ = scheduled()
    # THEN it is scheduled, announced (notifying), and its clock knows when to act
    assert incident.status == "scheduled" and incident.is_maintenance and update.step == "scheduled"
    assert update.deliver_notifications and incident.scheduled_remind_prior
    assert [lifecycle.due_at(incident, s, LEAD) for s in lifecycle.STEPS] == [
        NOW + timedelta(hours=2), NOW + timedelta(hours=3), NOW + timedelta(hours=4)]


def test_no_reminder_for_a_maintenance_that_starts_within_the_reminders_lead() -> None:
    # WHEN one is scheduled 20 minutes ahead
    incident, _, _ = scheduled(start_in=timedelta(minutes=20))
    # THEN it was just announced: no reminder, but it still starts and ends on its own
    assert not incident.scheduled_remind_prior
    assert lifecycle.due_at(incident, "reminder", LEAD) is None
    assert lifecycle.due_at(incident, "start", LEAD) == NOW + timedelta(minutes=20)


@pytest.mark.parametrize(("start_in", "length", "field"), [
    (timedelta(hours=1), timedelta(0), "scheduled_until"),
    (timedelta(hours=1), -timedelta(minutes=5), "scheduled_until"),
    (-timedelta(hours=1), timedelta(hours=2), "scheduled_for"),
])
def test_times_out_of_order_or_in_the_past_are_refused_naming_the_field(start_in: timedelta, length: timedelta,
                                                                         field: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        scheduled(start_in=start_in, length=length)
    assert refused.value.field == field


def test_the_whole_clock_runs_once_and_restores_the_components() -> None:
    state = scheduled()
    # WHEN the reminder, the start and the completion fire
    reminded = step(state, "reminder", NOW + timedelta(hours=2))
    assert reminded is not None
    started = step(reminded, "start", NOW + timedelta(hours=3))
    assert started is not None
    incident, updates, comps = started
    # THEN at the start its components are under maintenance, their statuses kept
    assert incident.status == "in_progress" and {c.status for c in comps.values()} == {"under_maintenance"}
    assert incident.restore_statuses == {"api": "operational", "web": "degraded_performance"}
    done = step(started, "complete", NOW + timedelta(hours=4))
    assert done is not None
    incident, updates, comps = done
    # AND at the end they are back as they were, and it reads completed, resolved at that time
    assert incident.status == "completed" and incident.resolved_at == "2026-12-02T13:00:00.000Z"
    assert {c: comps[c].status for c in comps} == {"api": "operational", "web": "degraded_performance"}
    assert [labels(updates)[u.id] for u in updates] == ["Scheduled", "Reminder", "In progress", "Completed"]
    assert [u.body for u in updates[1:]] == [
        "Maintenance will begin as scheduled in 60 minutes.",
        "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
        "The scheduled maintenance has been completed."]
    # AND every step fired again does nothing
    for name in lifecycle.STEPS:
        assert step(done, name, NOW + timedelta(hours=5)) is None


def test_a_step_fired_twice_or_for_an_earlier_schedule_does_nothing() -> None:
    state = scheduled()
    reminded = step(state, "reminder", NOW + timedelta(hours=2))
    assert reminded is not None
    # a second firing of the reminder
    assert step(reminded, "reminder", NOW + timedelta(hours=2, seconds=1)) is None
    # WHEN it is rescheduled, the old start's schedule (sequence 0) fires anyway
    incident, updates, comps = reminded
    moved, update = lifecycle.reschedule(incident, updates, name=None, scheduled_for=NOW + timedelta(hours=6),
                                         scheduled_until=NOW + timedelta(hours=7), body=None, notify=True, now=NOW,
                                         reminder_lead=LEAD)
    assert update is not None and moved.schedule_sequence == 1
    # THEN it does nothing; the new one does
    assert step((moved, [*updates, update], comps), "start", NOW + timedelta(hours=3), sequence=0) is None
    assert step((moved, [*updates, update], comps), "start", NOW + timedelta(hours=6)) is not None


def test_rescheduling_tells_subscribers_once_and_reminds_again_for_the_new_start() -> None:
    incident, updates, comps = scheduled()
    reminded = step((incident, updates, comps), "reminder", NOW + timedelta(hours=2))
    assert reminded is not None
    incident, updates, _ = reminded
    moved, update = lifecycle.reschedule(incident, updates, name="Database upgrade (moved)",
                                         scheduled_for=NOW + timedelta(days=1), scheduled_until=None, body=None,
                                         notify=True, now=NOW + timedelta(hours=2), reminder_lead=LEAD)
    assert update is not None and update.step == "rescheduled" and update.deliver_notifications
    assert moved.name == "Database upgrade (moved)" and moved.scheduled_reminded_at is None
    assert lifecycle.due_at(moved, "reminder", LEAD) == NOW + timedelta(days=1) - LEAD
    # a new start alone moves the whole window: it keeps its hour
    assert lifecycle.due_at(moved, "complete", LEAD) == NOW + timedelta(days=1, hours=1)
    # an end before the start is refused, naming it
    with pytest.raises(InvalidFieldError) as refused:
        lifecycle.reschedule(incident, updates, name=None, scheduled_for=NOW + timedelta(days=2),
                             scheduled_until=NOW + timedelta(days=1), body=None, notify=True, now=NOW,
                             reminder_lead=LEAD)
    assert refused.value.field == "scheduled_until"
    # a new name alone tells nobody and keeps the schedule
    renamed, none = lifecycle.reschedule(incident, updates, name="Renamed", scheduled_for=None,
                                         scheduled_until=None, body=None, notify=True, now=NOW, reminder_lead=LEAD)
    assert none is None and renamed.schedule_sequence == incident.schedule_sequence


def test_cancel_ends_a_maintenance_not_yet_started_and_its_steps_do_nothing() -> None:
    incident, updates, comps = scheduled()
    cancelled, update = lifecycle.cancel(incident, updates, body=None, notify=True, now=NOW)
    assert cancelled.cancelled_at and update.step == "cancelled" and cancelled.status == "completed"
    assert labels([*updates, update])[update.id] == "Cancelled"
    for name in lifecycle.STEPS:
        assert lifecycle.due_at(cancelled, name, LEAD) is None
        assert step((cancelled, [*updates, update], comps), name, NOW + timedelta(hours=3)) is None
    with pytest.raises(ConflictError):
        lifecycle.cancel(cancelled, [*updates, update], body=None, notify=True, now=NOW)


def test_a_started_maintenance_cannot_be_cancelled_or_rescheduled_but_ends_by_hand() -> None:
    started = step(scheduled(), "start", NOW + timedelta(hours=3))
    assert started is not None
    incident, updates, comps = started
    with pytest.raises(ConflictError):
        lifecycle.cancel(incident, updates, body=None, notify=True, now=NOW)
    with pytest.raises(ConflictError):
        lifecycle.reschedule(incident, updates, name=None, scheduled_for=NOW + timedelta(days=1),
                             scheduled_until=NOW + timedelta(days=2), body=None, notify=True, now=NOW,
                             reminder_lead=LEAD)
    # WHEN staff end it early by hand
    done, update = lifecycle.add_update(incident, updates, status="completed", body="Done early.", notify=True,
                                        display_at=None, components=comps, now=NOW + timedelta(hours=3, minutes=20))
    # THEN the components come back, and the automatic completion later does nothing
    assert done.status == "completed" and {a.new_status for a in update.affected_components or []} == {
        "operational", "degraded_performance"}
    assert lifecycle.take_step(done, [*updates, update], "complete", 0, comps, NOW + timedelta(hours=4), LEAD) is None
    # AND nothing moves a completed maintenance
    with pytest.raises(InvalidFieldError) as refused:
        lifecycle.add_update(done, [*updates, update], status="in_progress", body="again", notify=True,
                             display_at=None, components=comps, now=NOW + timedelta(hours=5))
    assert refused.value.field == "status"


def test_an_early_start_by_hand_puts_components_under_maintenance_and_the_clocks_start_does_nothing() -> None:
    incident, updates, comps = scheduled()
    started, update = lifecycle.add_update(incident, updates, status="in_progress", body="Starting early.",
                                           notify=True, display_at=None, components=comps,
                                           now=NOW + timedelta(hours=2, minutes=50))
    assert started.status == "in_progress" and update.step == "started"
    assert {a.new_status for a in update.affected_components or []} == {"under_maintenance"}
    assert lifecycle.take_step(started, [*updates, update], "start", 0, comps, NOW + timedelta(hours=3), LEAD) is None


def test_a_component_staff_changed_during_the_maintenance_keeps_their_status() -> None:
    started = step(scheduled(), "start", NOW + timedelta(hours=3))
    assert started is not None
    incident, updates, comps = started
    # WHEN staff set one component to a real outage meanwhile
    comps = {**comps, "web": comps["web"].model_copy(update={"status": "major_outage"})}
    done = step((incident, updates, comps), "complete", NOW + timedelta(hours=4))
    assert done is not None
    # THEN completing restores only the one still under maintenance
    assert {a.code: a.new_status for a in done[1][-1].affected_components or []} == {"api": "operational"}


def test_a_backfilled_maintenance_never_notifies_and_has_no_clock() -> None:
    comps = components(api="operational")
    incident, update = lifecycle.schedule(
        name="Past upgrade", body="Done last year.", scheduled_for=NOW - timedelta(days=300),
        scheduled_until=NOW - timedelta(days=300) + timedelta(hours=1), component_ids=["api"], components=comps,
        notify=True, remind_prior=True, auto_in_progress=True, auto_completed=True,
        display_at=NOW - timedelta(days=301), now=NOW, reminder_lead=LEAD)
    assert update.backfilled and not update.deliver_notifications
    assert all(lifecycle.due_at(incident, s, LEAD) is None for s in lifecycle.STEPS)
