"""The maintenance clock's schedules (status_fanout.maintenance.schedules)
against a fake EventBridge Scheduler client that answers as the real one:
ConflictException for a name that exists, ResourceNotFoundException for one
that does not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from status_fanout.incidents.models import Incident, IncidentUpdate
from status_fanout.maintenance import lifecycle
from status_fanout.maintenance.schedules import MaintenanceSchedules, at_expression, schedule_name
from status_fanout.settings import MaintenanceSettings, Settings

NOW = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
LEAD = timedelta(minutes=60)
GROUP = "status-fanout-maintenance"
CLOCK = "arn:aws:lambda:us-east-1:123456789012:function:clock"
ROLE = "arn:aws:iam::123456789012:role/scheduler"


def error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeScheduler:
    """Schedules by (group, name); every call recorded as (operation, name)."""

    def __init__(self) -> None:
        self.schedules: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_with: dict[str, ClientError] = {}

    def _call(self, operation: str, name: str) -> None:
        self.calls.append((operation, name))
        if operation in self.fail_with:
            raise self.fail_with[operation]

    def create_schedule(self, **request: Any) -> dict[str, str]:
        self._call("create", request["Name"])
        key = (request["GroupName"], request["Name"])
        if key in self.schedules:
            raise error("ConflictException", "CreateSchedule")
        self.schedules[key] = request
        return {"ScheduleArn": f"arn:schedule/{key[0]}/{key[1]}"}

    def update_schedule(self, **request: Any) -> dict[str, str]:
        self._call("update", request["Name"])
        key = (request["GroupName"], request["Name"])
        if key not in self.schedules:
            raise error("ResourceNotFoundException", "UpdateSchedule")
        self.schedules[key] = request
        return {"ScheduleArn": f"arn:schedule/{key[0]}/{key[1]}"}

    def delete_schedule(self, *, Name: str, GroupName: str) -> dict[str, Any]:
        self._call("delete", Name)
        if self.schedules.pop((GroupName, Name), None) is None:
            raise error("ResourceNotFoundException", "DeleteSchedule")
        return {}

    def named(self, maintenance_id: str, step: lifecycle.Step) -> dict[str, Any]:
        return self.schedules[(GROUP, schedule_name(maintenance_id, step))]


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"schedule_group": GROUP, "clock_function_arn": CLOCK, "scheduler_role_arn": ROLE,
                              "reminder_minutes": 60}
    return Settings(table_name="t", maintenance=MaintenanceSettings(**{**values, **overrides}))


def maintenance(start: timedelta = timedelta(hours=2), length: timedelta = timedelta(hours=1), *,
                remind: bool = True, auto_start: bool = True, auto_complete: bool = True
                ) -> tuple[Incident, list[IncidentUpdate]]:
    incident, update = lifecycle.schedule(
        name="Database upgrade", body="We upgrade the database.", scheduled_for=NOW + start,
        scheduled_until=NOW + start + length, component_ids=[], components={}, notify=True, remind_prior=remind,
        auto_in_progress=auto_start, auto_completed=auto_complete, display_at=None, now=NOW, reminder_lead=LEAD)
    return incident, [update]


@pytest.fixture
def scheduler() -> FakeScheduler:
    return FakeScheduler()


def test_a_new_maintenance_gets_one_one_time_schedule_per_step(scheduler: FakeScheduler) -> None:
    # GIVEN a maintenance from 11:00 to 12:00 with a reminder, an automatic start and completion
    incident, _ = maintenance()
    # WHEN its schedules are planned
    planned = MaintenanceSchedules(settings(), scheduler).plan(incident)
    # THEN each step has a schedule at its time, in UTC, in the stack's group
    assert planned == {"reminder": "at(2026-12-01T10:00:00)", "start": "at(2026-12-01T11:00:00)",
                       "complete": "at(2026-12-01T12:00:00)"}
    assert scheduler.calls == [("create", f"maintenance-{incident.id}-{step}") for step in planned]
    for step, expression in planned.items():
        request = scheduler.named(incident.id, step)
        assert request["ScheduleExpression"] == expression
        assert request["ScheduleExpressionTimezone"] == "UTC"
        assert request["ActionAfterCompletion"] == "DELETE"
        assert request["FlexibleTimeWindow"] == {"Mode": "OFF"}
        # AND each invokes the clock, as the scheduler role, with what to do
        target = request["Target"]
        assert (target["Arn"], target["RoleArn"]) == (CLOCK, ROLE)
        assert json.loads(target["Input"]) == {"maintenance_id": incident.id, "step": step, "sequence": 0}


def test_a_reschedule_updates_the_schedules_that_exist(scheduler: FakeScheduler) -> None:
    # GIVEN a maintenance whose three schedules exist
    incident, updates = maintenance()
    schedules = MaintenanceSchedules(settings(), scheduler)
    schedules.plan(incident)
    scheduler.calls.clear()
    # WHEN it is moved a day later and planned again
    moved, _ = lifecycle.reschedule(incident, updates, name=None, scheduled_for=NOW + timedelta(days=1, hours=2),
                                    scheduled_until=NOW + timedelta(days=1, hours=3), body=None, notify=True,
                                    now=NOW, reminder_lead=LEAD)
    planned = schedules.plan(moved)
    # THEN each create meets ConflictException and becomes an update of the same name
    names = [f"maintenance-{incident.id}-{step}" for step in lifecycle.STEPS]
    assert scheduler.calls == [call for name in names for call in (("create", name), ("update", name))]
    # AND the schedules hold the new times and the raised sequence, so the old firings do nothing
    assert planned["start"] == "at(2026-12-02T11:00:00)"
    for step in lifecycle.STEPS:
        request = scheduler.named(incident.id, step)
        assert request["ScheduleExpression"] == planned[step]
        assert json.loads(request["Target"]["Input"])["sequence"] == 1
    assert len(scheduler.schedules) == 3


def test_no_schedule_for_a_step_that_will_not_happen(scheduler: FakeScheduler) -> None:
    # GIVEN a maintenance starting in 30 minutes (inside the reminder's lead, so it was
    # just announced) and completed by hand
    incident, _ = maintenance(start=timedelta(minutes=30), auto_complete=False)
    # WHEN it is planned
    planned = MaintenanceSchedules(settings(), scheduler).plan(incident)
    # THEN only the start has a schedule; the others are deleted, and not finding them is fine
    assert planned == {"reminder": None, "start": "at(2026-12-01T09:30:00)", "complete": None}
    assert list(scheduler.schedules) == [(GROUP, f"maintenance-{incident.id}-start")]
    assert scheduler.calls == [("delete", f"maintenance-{incident.id}-reminder"),
                               ("create", f"maintenance-{incident.id}-start"),
                               ("delete", f"maintenance-{incident.id}-complete")]


def test_a_cancelled_maintenance_loses_its_schedules_and_clear_ignores_missing_ones(scheduler: FakeScheduler) -> None:
    # GIVEN a planned maintenance
    incident, updates = maintenance()
    schedules = MaintenanceSchedules(settings(), scheduler)
    schedules.plan(incident)
    # WHEN it is cancelled and planned again
    cancelled, _ = lifecycle.cancel(incident, updates, body=None, notify=True, now=NOW)
    planned = schedules.plan(cancelled)
    # THEN nothing is planned and every schedule is gone
    assert planned == {"reminder": None, "start": None, "complete": None}
    assert scheduler.schedules == {}
    # AND clearing it again deletes nothing that exists, without an error
    scheduler.calls.clear()
    schedules.clear(cancelled)
    assert [operation for operation, _ in scheduler.calls] == ["delete", "delete", "delete"]


def test_other_scheduler_errors_are_not_swallowed(scheduler: FakeScheduler) -> None:
    # GIVEN a scheduler that refuses creates (say the API's role lost scheduler:CreateSchedule)
    incident, _ = maintenance()
    scheduler.fail_with["create"] = error("AccessDeniedException", "CreateSchedule")
    # THEN planning raises it, rather than leaving a maintenance without its clock unnoticed
    with pytest.raises(ClientError, match="AccessDeniedException"):
        MaintenanceSchedules(settings(), scheduler).plan(incident)
    # AND so does a delete that fails for another reason than a missing schedule
    scheduler.fail_with = {"delete": error("ThrottlingException", "DeleteSchedule")}
    with pytest.raises(ClientError, match="ThrottlingException"):
        MaintenanceSchedules(settings(), scheduler).clear(incident)


@pytest.mark.parametrize("missing", ["schedule_group", "clock_function_arn"])
def test_without_a_group_or_a_clock_nothing_is_called(scheduler: FakeScheduler, missing: str) -> None:
    # GIVEN settings without the schedule group or the clock's ARN (a stack without the clock)
    incident, _ = maintenance()
    schedules = MaintenanceSchedules(settings(**{missing: ""}), scheduler)
    # WHEN it is planned and cleared
    planned = schedules.plan(incident)
    schedules.clear(incident)
    # THEN the times are still worked out, but the scheduler is never called
    assert planned["start"] == "at(2026-12-01T11:00:00)"
    assert scheduler.calls == []


def test_a_time_between_seconds_is_rounded_up_so_no_step_fires_early() -> None:
    # GIVEN a maintenance whose start falls 250 ms into a second
    incident, _ = maintenance(start=timedelta(hours=2, milliseconds=250))
    # THEN its start schedule is at the next whole second, a whole second stays as it is
    assert at_expression(incident, "start", LEAD) == "at(2026-12-01T11:00:01)"
    assert at_expression(incident, "complete", LEAD) == "at(2026-12-01T12:00:01)"
    assert at_expression(maintenance()[0], "start", LEAD) == "at(2026-12-01T11:00:00)"
