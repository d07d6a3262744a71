"""The maintenance clock end to end: the API schedules a maintenance, its
one-time EventBridge Scheduler schedules land in the emulator, and the local
stack fires them when due (status_fanout_local.scheduler) into the clock
function, which takes each step once: the reminder, the start (its
components under maintenance) and the completion (the components back to
what they were). A reschedule moves the schedules, a cancel removes them,
and a repeated firing changes nothing.

The reminder lead is 15 s here (MAINTENANCE_REMINDER_MINUTES=0.25), so the
whole maintenance runs in about 40 s; the other tests run while it waits.
Timing is never asserted beyond "not before its time".
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import boto3
import pytest

from status_fanout.api.auth import hash_token
from status_fanout.maintenance.lifecycle import COMPLETED_BODY, STARTED_BODY
from status_fanout.timefmt import parse_ts
from tests.conftest import ROOT, STAFF_TOKEN, Api

pytestmark = pytest.mark.e2e

LEAD = timedelta(seconds=15)
START_IN, LENGTH = timedelta(seconds=24), timedelta(seconds=16)
STEPS = ("reminder", "start", "complete")


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    from status_fanout_local.stack import LocalStack

    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)},
                    env={"FANOUT_SHARDS": "4", "MAINTENANCE_REMINDER_MINUTES": "0.25"}) as running:
        yield running


@pytest.fixture(scope="module")
def scheduler() -> Any:
    return boto3.client("scheduler")


@pytest.fixture(scope="module")
def group(stack: Any) -> str:
    return str(stack.physical["MaintenanceScheduleGroup"])


@pytest.fixture(scope="module")
def running(stack: Any, api: Api) -> dict[str, Any]:
    """The maintenance the clock runs: starts 24 s after the module does, lasts 16 s,
    on a degraded component (which must come back degraded); another component is
    left out of it."""
    assert api("PUT", "/v1/components/db", {"name": "Database", "status": "degraded_performance"}).status == 201
    assert api("PUT", "/v1/components/web", {"name": "Website"}).status == 201
    now = datetime.now(UTC)
    reply = api("POST", "/v1/maintenances", {
        "name": "Database upgrade", "body": "We upgrade the database.", "components": ["db"],
        "scheduled_for": (now + START_IN).isoformat(), "scheduled_until": (now + START_IN + LENGTH).isoformat()})
    assert reply.status == 201, reply.raw
    return dict(reply.json)


def schedules_of(scheduler: Any, group: str, maintenance_id: str) -> dict[str, dict[str, Any]]:
    """step -> the schedule as GetSchedule returns it."""
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]
             if s["Name"].startswith(f"maintenance-{maintenance_id}-")]
    found = {}
    for name in names:
        detail = scheduler.get_schedule(GroupName=group, Name=name)
        found[name.rsplit("-", 1)[1]] = detail
    return found


def at(when: str | datetime, minus: timedelta = timedelta(0)) -> str:
    """The at() expression of a due time: whole seconds, rounded up."""
    moment = (parse_ts(when) if isinstance(when, str) else when) - minus
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S})"


def component_status(api: Api, component_id: str) -> str:
    return str(next(c["status"] for c in api("GET", "/v1/components").json["components"] if c["id"] == component_id))


def schedule_later(api: Api, name: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    reply = api("POST", "/v1/maintenances", {"name": name, "body": "Later.", "scheduled_for": start.isoformat(),
                                             "scheduled_until": (start + timedelta(hours=1)).isoformat()})
    assert reply.status == 201, reply.raw
    return dict(reply.json)


def test_a_new_maintenance_has_a_schedule_for_each_step_in_the_emulator(
        stack: Any, scheduler: Any, group: str, running: dict[str, Any]) -> None:
    # GIVEN the maintenance just scheduled through the API
    # WHEN the emulator's schedule group is read, as Scheduler would hold it
    found = schedules_of(scheduler, group, running["id"])
    # THEN there is one one-time schedule per step, at its time (the reminder 15 s before the start)
    assert {step: s["ScheduleExpression"] for step, s in found.items()} == {
        "reminder": at(running["scheduled_for"], LEAD), "start": at(running["scheduled_for"]),
        "complete": at(running["scheduled_until"])}
    for step, schedule in found.items():
        # AND each invokes the clock function as the scheduler role, with what to do, and is deleted after
        target = schedule["Target"]
        assert target["Arn"] == stack.resources["MaintenanceClockFunction"].attributes["Arn"]
        assert target["RoleArn"] == stack.resources["MaintenanceSchedulerRole"].attributes["Arn"]
        assert json.loads(target["Input"]) == {"maintenance_id": running["id"], "step": step, "sequence": 0}
        assert (schedule["ActionAfterCompletion"], schedule["ScheduleExpressionTimezone"]) == ("DELETE", "UTC")


def test_a_reschedule_moves_the_schedules_and_the_old_firing_does_nothing(
        stack: Any, api: Api, scheduler: Any, group: str) -> None:
    # GIVEN a maintenance in two hours
    later = schedule_later(api, "Network change")
    before = schedules_of(scheduler, group, later["id"])
    assert set(before) == set(STEPS)
    # WHEN it is moved a day later
    start = parse_ts(later["scheduled_for"]) + timedelta(days=1)
    reply = api("PATCH", f"/v1/maintenances/{later['id']}", {
        "scheduled_for": start.isoformat(), "scheduled_until": (start + timedelta(hours=1)).isoformat()})
    assert reply.status == 200, reply.raw
    # THEN the same three schedules hold the new times and the next sequence
    after = schedules_of(scheduler, group, later["id"])
    assert {step: s["ScheduleExpression"] for step, s in after.items()} == {
        "reminder": at(start, LEAD), "start": at(start), "complete": at(start + timedelta(hours=1))}
    assert {json.loads(s["Target"]["Input"])["sequence"] for s in after.values()} == {1}
    # AND a firing of an old schedule (its sequence 0), late or repeated, changes nothing
    result = stack.invoke("MaintenanceClockFunction", json.loads(before["start"]["Target"]["Input"]))
    assert result["applied"] is False
    shown = api("GET", f"/v1/maintenances/{later['id']}").json
    assert shown["status"] == "scheduled" and len(shown["incident_updates"]) == 2  # scheduled, rescheduled


def test_a_cancel_removes_the_schedules(api: Api, scheduler: Any, group: str) -> None:
    # GIVEN a maintenance in two hours, with its schedules
    later = schedule_later(api, "Storage migration")
    assert set(schedules_of(scheduler, group, later["id"])) == set(STEPS)
    # WHEN it is cancelled
    assert api("POST", f"/v1/maintenances/{later['id']}/cancel", {}).status == 200
    # THEN none of its schedules is left
    assert schedules_of(scheduler, group, later["id"]) == {}


def test_a_bad_clock_input_is_dropped_not_raised(stack: Any) -> None:
    # A retry could never succeed: the handler logs it and answers, Lambda does not retry it.
    result = stack.invoke("MaintenanceClockFunction", {"maintenance_id": "x", "step": "explode"})
    assert result["applied"] is False and "explode" in result["dropped"]


def test_the_clock_reminds_starts_and_completes_once_each(
        stack: Any, api: Api, scheduler: Any, group: str, running: dict[str, Any]) -> None:
    maintenance_id = running["id"]
    end = parse_ts(running["scheduled_until"])
    seen: list[tuple[str, str, str, frozenset[str]]] = []  # (status, db, web, steps with schedules)
    # WHEN the clock runs, watched through the API and the emulator, until it is done
    deadline = time.monotonic() + (end - datetime.now(UTC)).total_seconds() + 20
    shown = running
    while time.monotonic() < deadline:
        shown = api("GET", f"/v1/maintenances/{maintenance_id}").json
        left = frozenset(schedules_of(scheduler, group, maintenance_id))
        seen.append((shown["status"], component_status(api, "db"), component_status(api, "web"), left))
        if shown["status"] == "completed" and not left:
            break
        time.sleep(0.5)
    # THEN it went scheduled -> in progress (db under maintenance) -> completed (db degraded again)
    states = [state for n, state in enumerate(seen) if n == 0 or seen[n - 1] != state]
    statuses = [status for n, (status, *_) in enumerate(states) if n == 0 or states[n - 1][0] != status]
    assert statuses == ["scheduled", "in_progress", "completed"], states
    assert {db for status, db, _, _ in seen if status == "in_progress"} == {"under_maintenance"}
    assert seen[-1][:2] == ("completed", "degraded_performance")
    # AND the other component was never touched
    assert {web for _, _, web, _ in seen} == {"operational"}
    # AND each schedule was deleted once it had fired: the steps with schedules only ever shrank
    assert seen[-1][3] == frozenset()
    assert all(later <= earlier for (*_, earlier), (*_, later) in pairwise(seen))
    # AND each step is one update, none before its time
    updates = {u["body"]: u for u in shown["incident_updates"]}
    bodies = [u["body"] for u in shown["incident_updates"]]
    reminder = next(b for b in bodies if b.startswith("Maintenance will begin as scheduled"))
    assert sorted(bodies) == sorted(["We upgrade the database.", reminder, STARTED_BODY, COMPLETED_BODY])
    due = {reminder: parse_ts(running["scheduled_for"]) - LEAD, STARTED_BODY: parse_ts(running["scheduled_for"]),
           COMPLETED_BODY: end}
    for body, when in due.items():
        assert parse_ts(updates[body]["created_at"]) >= when.replace(microsecond=0), body
    assert shown["scheduled_reminded_at"] == updates[reminder]["created_at"]
    assert [a["new_status"] for a in updates[STARTED_BODY]["affected_components"]] == ["under_maintenance"]
    assert [a["new_status"] for a in updates[COMPLETED_BODY]["affected_components"]] == ["degraded_performance"]


def test_a_duplicate_firing_of_any_step_changes_nothing(stack: Any, api: Api, running: dict[str, Any]) -> None:
    # GIVEN the completed maintenance
    before = api("GET", f"/v1/maintenances/{running['id']}").json
    assert before["status"] == "completed"
    # WHEN Scheduler fires each of its steps again (at-least-once delivery, a Lambda retry)
    for step in STEPS:
        result = stack.invoke("MaintenanceClockFunction",
                              {"maintenance_id": running["id"], "step": step, "sequence": 0})
        # THEN none applies
        assert result["applied"] is False, step
    # AND the maintenance and its component are as they were
    assert api("GET", f"/v1/maintenances/{running['id']}").json == before
    assert component_status(api, "db") == "degraded_performance"
