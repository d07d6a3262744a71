"""A maintenance's webhook bodies, one for each step: the standard body (its
`type` is `maintenance.<step>`, its `data.incident` the maintenance) as a
Standard Webhooks library verifies and reads it, and Statuspage's body with
every key of Statuspage's real incident webhooks, its `scheduled_*` fields
the maintenance's own. And the `events` filter an endpoint may set names them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from status_fanout.delivery.events import EVENT_TYPES
from status_fanout.timefmt import format_ts
from status_fanout.webhooks.channel import encode
from status_fanout.webhooks.models import (
    WebhookCreate,
    WebhookEndpoint,
    WebhookPatch,
    new_secret,
    sign,
    standard_body,
    statuspage_body,
)
from tests.unit.delivery.maintenance_events import (
    LEAD,
    MOVED_END,
    MOVED_START,
    STEPS,
    event_of,
    maintenance_events,
)
from tests.unit.email.test_messages import SETTINGS

SAMPLES = Path(__file__).resolve().parents[3] / "data" / "statuspage-samples"
INCIDENT_SAMPLES = ("zulip_statuspage_incident_created.json", "zulip_statuspage_incident_update_resolved.json")
MAINTENANCE_TYPES = [f"maintenance.{step}" for step in STEPS]
STATUSPAGE_MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
CLOCK_FIELDS = ("scheduled_for", "scheduled_until", "scheduled_remind_prior", "scheduled_reminded_at",
                "scheduled_auto_in_progress", "scheduled_auto_completed")


def samples() -> list[dict[str, Any]]:
    return [json.loads((SAMPLES / name).read_text()) for name in INCIDENT_SAMPLES]


def received(body: dict[str, Any]) -> dict[str, Any]:
    """The body as a receiver gets it: encoded as the channel sends it, signed, verified by the library."""
    secret, raw, now = new_secret(), encode(body), int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now),
               "webhook-signature": sign([secret], "msg_1", now, raw)}
    verified: dict[str, Any] = Webhook(secret).verify(raw, headers)
    return verified


def test_every_step_has_its_own_event_type_and_each_type_is_one_a_filter_may_name() -> None:
    assert {e.type for e in maintenance_events()} == set(MAINTENANCE_TYPES)
    assert set(MAINTENANCE_TYPES) <= set(EVENT_TYPES)


@pytest.mark.parametrize("step", STEPS)
def test_the_standard_body_of_each_step_is_the_maintenance_as_that_step_left_it(step: str) -> None:
    # GIVEN the event of one maintenance step
    event = event_of(step)
    # WHEN its standard body is sent and verified with the Standard Webhooks library
    body = received(standard_body(event))
    # THEN its type is maintenance.<step>, at the update's time
    assert body["type"] == f"maintenance.{step}"
    assert body["timestamp"] == event.occurred_at
    # AND its data is an incident event's: the page, the maintenance as `incident`, the update, a sequence
    data = body["data"]
    assert set(data) == {"page", "incident", "update", "sequence"}
    incident, update = data["incident"], data["update"]
    assert incident["impact"] == "maintenance" and incident["status"] in STATUSPAGE_MAINTENANCE_STATUSES
    assert all(key in incident for key in (*CLOCK_FIELDS, "cancelled_at"))
    assert (incident["cancelled_at"] is not None) is (step == "cancelled")
    # AND the update is the step's, with the step's label, newest in the incident's updates
    assert update["id"] == incident["incident_updates"][0]["id"]
    assert update["label"] == {"started": "In progress", "updated": "Update"}.get(step, step.capitalize())
    assert data["sequence"] == len(incident["incident_updates"])


def test_the_standard_body_carries_the_window_as_rescheduled() -> None:
    # GIVEN the relay upgrade, moved to Dec 4 07:00-09:30 UTC, then reminded an hour before
    data = standard_body(event_of("reminder"))["data"]["incident"]
    # THEN the reminder's body has the new window and when the reminder went out
    assert (data["scheduled_for"], data["scheduled_until"]) == (format_ts(MOVED_START), format_ts(MOVED_END))
    assert data["scheduled_reminded_at"] == format_ts(MOVED_START - LEAD)


@pytest.mark.parametrize("step", STEPS)
def test_the_statuspage_body_of_each_step_has_every_key_of_statuspages_and_the_maintenances_own_fields(
        step: str) -> None:
    # GIVEN the event of one maintenance step
    event = event_of(step)
    # WHEN its Statuspage body is built
    body = json.loads(encode(statuspage_body(event, "hook1", "2026-12-04T07:00:00.000Z", SETTINGS.links_base)))
    incident = body["incident"]
    # THEN it has every key of Statuspage's real incident webhooks, at every level
    for sample in samples():
        assert set(sample) <= set(body)
        assert set(sample["page"]) <= set(body["page"])
        assert set(sample["meta"]) <= set(body["meta"])
        assert set(sample["incident"]) <= set(incident)
        update_keys = set(sample["incident"]["incident_updates"][0])
        assert all(update_keys <= set(u) for u in incident["incident_updates"])
        affected_keys = set(sample["incident"]["incident_updates"][0]["affected_components"][0])
        assert all(affected_keys <= set(a) for u in incident["incident_updates"]
                   for a in u["affected_components"] or [])
        component_keys = set(sample["incident"]["components"][0])
        assert incident["components"] and all(component_keys <= set(c) for c in incident["components"])
    # AND it is a maintenance as Statuspage sends one: its impact, a status of Statuspage's
    assert incident["impact"] == "maintenance"
    assert incident["status"] in STATUSPAGE_MAINTENANCE_STATUSES
    assert {u["status"] for u in incident["incident_updates"]} <= STATUSPAGE_MAINTENANCE_STATUSES
    # AND its scheduled_* fields are the maintenance's, not an incident's defaults
    for field in CLOCK_FIELDS:
        assert incident[field] == (event.incident or {})[field], field
    assert incident["scheduled_for"] and incident["scheduled_until"]
    assert incident["scheduled_auto_in_progress"] is True and incident["scheduled_auto_completed"] is True
    # AND no postmortem: a maintenance has none
    assert incident["postmortem_body"] is None and incident["postmortem_published_at"] is None
    assert incident["postmortem_notified_subscribers"] is False


def test_a_cancelled_maintenance_reads_completed_to_statuspage_consumers_and_says_when_it_was_cancelled() -> None:
    incident = statuspage_body(event_of("cancelled"), "hook1", "t", SETTINGS.links_base)["incident"]
    assert incident["status"] == "completed" and incident["incident_updates"][0]["status"] == "completed"
    assert incident["cancelled_at"] == (event_of("cancelled").incident or {})["cancelled_at"] is not None


def test_an_incidents_statuspage_body_still_carries_its_own_postmortem_over_the_defaults() -> None:
    from tests.unit.email.test_messages import seed_events

    postmortem = seed_events()[-1]
    incident = statuspage_body(postmortem, "hook1", "t", SETTINGS.links_base)["incident"]
    assert incident["postmortem_body"] and incident["postmortem_published_at"]
    assert incident["scheduled_for"] is None and incident["impact"] == "critical"


# --- the events filter ------------------------------------------------------------

def test_an_endpoint_may_filter_on_the_maintenance_types_and_gets_only_those() -> None:
    # GIVEN an endpoint registered for the start and the completion of maintenances only
    request = WebhookCreate(url="https://hooks.example.com/x",
                            events=["maintenance.started", "maintenance.completed", "maintenance.started"])
    assert request.events == ["maintenance.started", "maintenance.completed"]
    endpoint = WebhookEndpoint(id="wh1", url=request.url, events=request.events, created_at="t", updated_at="t")
    # THEN it wants those two events, of any maintenance, and no other
    wanted = [e.type for e in maintenance_events() if endpoint.wants(e.type, e.component_ids)]
    assert wanted == ["maintenance.started", "maintenance.completed"]
    assert not endpoint.wants("incident.created", ["smtp-email"])
    # AND every maintenance type may be named, on create and on patch
    assert WebhookCreate(url="https://hooks.example.com/x", events=MAINTENANCE_TYPES).events == MAINTENANCE_TYPES
    assert WebhookPatch(events=MAINTENANCE_TYPES).events == MAINTENANCE_TYPES


def test_a_type_that_does_not_exist_is_refused_naming_the_filter() -> None:
    with pytest.raises(ValidationError) as err:
        WebhookCreate(url="https://hooks.example.com/x", events=["maintenance.postponed"])
    assert err.value.errors()[0]["loc"] == ("events", 0)


def test_an_endpoint_filtered_to_components_gets_the_maintenances_that_touch_them() -> None:
    endpoint = WebhookEndpoint(id="wh1", url="https://hooks.example.com/x", components=["email-marketing"],
                               created_at="t", updated_at="t")
    wanted = {(e.incident or {})["name"] for e in maintenance_events() if endpoint.wants(e.type, e.component_ids)}
    assert wanted == {"Marketing database migration"}
