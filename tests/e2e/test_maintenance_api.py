"""The maintenance routes as staff use them (docs/contract.md §9): schedule,
read, list, update by hand, reschedule, cancel; bad input is a 422 naming
the field, a move the state forbids a 409, a repeated request with the same
Idempotency-Key runs once. Far-future windows: no clock step fires here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from status_fanout.api.auth import hash_token
from status_fanout_local.stack import LocalStack
from tests.conftest import ROOT, STAFF_TOKEN, Api

pytestmark = pytest.mark.e2e
START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)}) as running:
        yield running


def at(delta: timedelta = timedelta(0)) -> str:
    return (START + delta).isoformat().replace("+00:00", "Z")


def schedule(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "Database upgrade", "body": "We will upgrade the primary database.",
            "scheduled_for": at(), "scheduled_until": at(timedelta(hours=2)), **fields}
    reply = api("POST", "/v1/maintenances", body)
    assert reply.status == 201, reply.raw
    return dict(reply.json)


def test_a_maintenance_is_scheduled_read_and_listed(stack: LocalStack, api: Api) -> None:
    api("PUT", "/v1/components/api", {"name": "API", "position": 1})
    # WHEN staff schedule a maintenance on the API
    created = schedule(api, components=["api"])
    # THEN it reads back as Statuspage's maintenance, with its clock's settings
    assert created["status"] == "scheduled" and created["impact"] == "maintenance"
    assert created["scheduled_for"] == at().replace("Z", ".000Z")
    assert created["scheduled_remind_prior"] and created["scheduled_auto_in_progress"]
    assert [c["id"] for c in created["components"]] == ["api"]
    assert created["incident_updates"][0]["body"] == "We will upgrade the primary database."
    assert api("GET", f"/v1/maintenances/{created['id']}").json == created
    # AND it is listed with the upcoming ones, never among the incidents
    upcoming = api("GET", "/v1/maintenances?status=upcoming").json["maintenances"]
    assert created["id"] in [m["id"] for m in upcoming]
    assert created["id"] not in [i["id"] for i in api("GET", "/v1/incidents?limit=100").json["incidents"]]
    assert api("GET", f"/v1/incidents/{created['id']}").status in (200, 404)
    assert api("GET", "/v1/maintenances/nosuchthing").status == 404


@pytest.mark.parametrize(("fields", "field"), [
    ({"scheduled_until": at(-timedelta(minutes=1))}, "scheduled_until"),
    ({"scheduled_for": "2020-01-01T00:00:00Z", "scheduled_until": "2020-01-01T01:00:00Z"}, "scheduled_for"),
    ({"scheduled_for": "next tuesday"}, "scheduled_for"),
    ({"scheduled_for": "2030-01-01T00:00:00"}, "scheduled_for"),  # no time zone
    ({"components": ["no-such-component"]}, "components.no-such-component"),
    ({"name": ""}, "name"),
])
def test_bad_times_and_fields_are_422_naming_the_field(stack: LocalStack, api: Api, fields: dict[str, Any],
                                                        field: str) -> None:
    body = {"name": "Bad", "body": "x", "scheduled_for": at(), "scheduled_until": at(timedelta(hours=1)), **fields}
    reply = api("POST", "/v1/maintenances", body)
    assert reply.status == 422, reply.raw
    assert field in reply.raw.decode()


def test_reschedule_and_cancel_follow_the_rules(stack: LocalStack, api: Api) -> None:
    created = schedule(api)
    # WHEN it is moved a day later (the end not given)
    moved = api("PATCH", f"/v1/maintenances/{created['id']}", {"scheduled_for": at(timedelta(days=1))})
    # THEN the whole window moved, keeping its two hours, and subscribers were told once
    assert moved.status == 200, moved.raw
    assert moved.json["scheduled_until"] == at(timedelta(days=1, hours=2)).replace("Z", ".000Z")
    assert moved.json["incident_updates"][0]["body"].startswith("This maintenance has been rescheduled")
    # AND an empty PATCH is a 422
    assert api("PATCH", f"/v1/maintenances/{created['id']}", {}).status == 422
    # WHEN it is cancelled
    cancelled = api("POST", f"/v1/maintenances/{created['id']}/cancel", {"body": "Postponed indefinitely."})
    assert cancelled.status == 200, cancelled.raw
    assert cancelled.json["status"] == "completed" and cancelled.json["cancelled_at"]
    assert cancelled.json["incident_updates"][0]["body"] == "Postponed indefinitely."
    # THEN nothing more can be done to it, and it is no longer upcoming
    assert api("POST", f"/v1/maintenances/{created['id']}/cancel", {}).status == 409
    assert api("PATCH", f"/v1/maintenances/{created['id']}", {"scheduled_for": at(timedelta(days=2))}).status == 409
    assert created["id"] not in [m["id"] for m in api("GET", "/v1/maintenances?status=upcoming").json["maintenances"]]


def test_updates_by_hand_move_it_along_and_a_started_one_cannot_be_cancelled(stack: LocalStack, api: Api) -> None:
    api("PUT", "/v1/components/web", {"name": "Web", "position": 2})
    created = schedule(api, components=["web"])
    started = api("POST", f"/v1/maintenances/{created['id']}/updates",
                  {"status": "in_progress", "body": "Starting early."})
    assert started.status == 201, started.raw
    assert started.json["status"] == "in_progress"
    web = next(c for c in api("GET", "/v1/components").json["components"] if c["id"] == "web")
    assert web["status"] == "under_maintenance"
    assert api("POST", f"/v1/maintenances/{created['id']}/cancel", {}).status == 409
    assert api("POST", f"/v1/maintenances/{created['id']}/updates",
               {"status": "scheduled", "body": "back?"}).status == 422
    done = api("POST", f"/v1/maintenances/{created['id']}/updates", {"status": "completed", "body": "Done."})
    assert done.status == 201 and done.json["status"] == "completed" and done.json["resolved_at"]
    web = next(c for c in api("GET", "/v1/components").json["components"] if c["id"] == "web")
    assert web["status"] == "operational"


def test_a_repeated_request_with_the_same_idempotency_key_schedules_once(stack: LocalStack, api: Api) -> None:
    body = {"name": "Once only", "body": "x", "scheduled_for": at(timedelta(days=3)),
            "scheduled_until": at(timedelta(days=3, hours=1))}
    first = api("POST", "/v1/maintenances", body, headers={"Idempotency-Key": "mnt-once-1"})
    again = api("POST", "/v1/maintenances", body, headers={"Idempotency-Key": "mnt-once-1"})
    assert first.status == again.status == 201 and first.json["id"] == again.json["id"]
    names = [m["name"] for m in api("GET", "/v1/maintenances?limit=100").json["maintenances"]]
    assert names.count("Once only") == 1
