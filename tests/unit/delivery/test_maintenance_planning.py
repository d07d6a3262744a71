"""A maintenance's changes as the planner sees them: which updates notify
(never one posted with `notify: false`, never a backfilled one), what each
step's event is (`maintenance.<step>`, the maintenance as it stood), and who
it is planned for (subscribers of its components or of everything, and of its
type when they filter by type)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from status_fanout.delivery.planner import Planner, notifying_events
from status_fanout.incidents.models import Incident, IncidentUpdate
from status_fanout.incidents.store import IncidentStore
from status_fanout.maintenance import lifecycle
from status_fanout.settings import EmailSettings, FanoutSettings, Settings, WebhookSettings
from tests.support.fake_sqs import SentMessages
from tests.unit.delivery.maintenance_events import (
    ANNOUNCED,
    END,
    LEAD,
    NAME,
    RELAY_COMPONENTS,
    START,
    STEPS,
    event_of,
    maintenance_events,
    relay_upgrade,
)
from tests.unit.publishing.test_feeds import seed_components

STORE = IncidentStore("t")  # builds the items it writes; nothing is sent


def stream_record(update: IncidentUpdate) -> dict[str, Any]:
    """The stream's INSERT record of the item the store writes for this update."""
    return {"eventName": "INSERT", "dynamodb": {"NewImage": STORE._update_put(update, new=True)["Put"]["Item"]}}


def notifying(*updates: IncidentUpdate) -> list[str]:
    return [ref.id for ref in notifying_events([stream_record(u) for u in updates])]


def scheduled(notify: bool = True, display_at: datetime | None = None,
              now: datetime = ANNOUNCED) -> tuple[Incident, IncidentUpdate]:
    return lifecycle.schedule(
        name=NAME, body="We will upgrade the mail relays.", scheduled_for=START, scheduled_until=END,
        component_ids=RELAY_COMPONENTS, components=seed_components(), notify=notify, remind_prior=True,
        auto_in_progress=True, auto_completed=True, display_at=display_at, now=now, reminder_lead=LEAD)


# --- what notifies ----------------------------------------------------------------

def test_every_step_of_a_live_maintenance_notifies_once() -> None:
    run = relay_upgrade()
    assert notifying(*run.updates) == [f"upd:{run.updates[0].incident_id}:{u.seq}" for u in run.updates]


def test_a_maintenance_update_with_notify_false_is_no_event() -> None:
    # GIVEN a maintenance scheduled, updated, rescheduled and cancelled, each with notify: false
    incident, first = scheduled(notify=False)
    updates = [first]
    incident, update = lifecycle.add_update(incident, updates, status="scheduled", body="Details.", notify=False,
                                            display_at=None, components=seed_components(),
                                            now=ANNOUNCED + timedelta(hours=1))
    updates.append(update)
    incident, moved = lifecycle.reschedule(incident, updates, name=None, scheduled_for=START + timedelta(hours=1),
                                           scheduled_until=None, body=None, notify=False,
                                           now=ANNOUNCED + timedelta(hours=2), reminder_lead=LEAD)
    assert moved is not None
    updates.append(moved)
    incident, cancelled = lifecycle.cancel(incident, updates, body=None, notify=False,
                                           now=ANNOUNCED + timedelta(hours=3))
    updates.append(cancelled)
    # THEN none of them is an event: the page, feeds and JSON only
    assert [u.deliver_notifications for u in updates] == [False] * 4
    assert notifying(*updates) == []


def test_a_backfilled_maintenance_never_notifies_even_with_notify_true() -> None:
    # GIVEN a past maintenance recorded with display_at (a backfill), and updates backfilled into it
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    past = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    incident, first = lifecycle.schedule(
        name=NAME, body="Done last month.", scheduled_for=past, scheduled_until=past + timedelta(hours=2),
        component_ids=RELAY_COMPONENTS, components=seed_components(), notify=True, remind_prior=True,
        auto_in_progress=True, auto_completed=True, display_at=past - timedelta(days=3), now=now,
        reminder_lead=LEAD)
    updates = [first]
    for status, at in (("in_progress", past), ("completed", past + timedelta(hours=2))):
        incident, update = lifecycle.add_update(incident, updates, status=status, body=status,  # type: ignore[arg-type]
                                                notify=True, display_at=at, components=seed_components(), now=now)
        updates.append(update)
    # THEN every update is backfilled, none delivers notifications, and none is an event
    assert all(u.backfilled and not u.deliver_notifications for u in updates)
    assert notifying(*updates) == []
    # AND even an update marked deliverable is no event once backfilled (the planner checks both)
    assert notifying(updates[0].model_copy(update={"deliver_notifications": True})) == []
    # AND no clock runs for it: no reminder, no automatic start or end
    assert not (incident.scheduled_remind_prior or incident.scheduled_auto_in_progress
                or incident.scheduled_auto_completed)


# --- the events -------------------------------------------------------------------

@pytest.mark.parametrize("step", STEPS)
def test_each_step_is_snapshotted_as_its_own_type_with_the_maintenance_and_its_labels(step: str) -> None:
    event = event_of(step)
    assert event.type == f"maintenance.{step}"
    incident = event.incident or {}
    assert incident["impact"] == "maintenance" and incident["scheduled_for"] and incident["scheduled_until"]
    # every update's label, as the status page shows it, for the channels that list earlier updates
    assert [event.labels[u["id"]] for u in reversed(incident["incident_updates"])][-1] == (event.update or {})["label"]
    assert set(event.labels) == {u["id"] for u in incident["incident_updates"]}


def test_an_event_snapshotted_before_labels_were_frozen_still_reads() -> None:
    from status_fanout.delivery.events import EventSnapshot

    stored = event_of("reminder").model_dump(exclude={"labels"})
    assert EventSnapshot.model_validate(stored).labels == {}


# --- who it is planned for -------------------------------------------------------

SETTINGS = Settings(table_name="t", fanout=FanoutSettings(plan_queue_url="plan", shards=1),
                    webhook=WebhookSettings(queue_url="webhooks"), email=EmailSettings(queue_url="emails"))


class Index:
    """The subscriber index in memory: one page per (channel, bucket), as the planner reads it."""

    def __init__(self, buckets: dict[str, list[dict[str, Any]]]) -> None:
        self.buckets = buckets

    def subscribers_page(self, channel: str, bucket: str, shard: int,
                         start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return [item for item in self.buckets.get(bucket, []) if item["channel"] == channel], None


def planned_for(buckets: dict[str, list[dict[str, Any]]], step: str) -> dict[str, set[str]]:
    """Plan one maintenance event through its planning jobs: the subscribers each channel's jobs name."""
    queues = SentMessages()
    planner = Planner(None, Index(buckets), SETTINGS, sqs=queues)  # type: ignore[arg-type]
    assert planner.plan_event(event_of(step)) == 2  # one job per channel (one shard)
    for job in queues.sent["plan"]:
        planner.plan_shard(job)
    return {queue: {job["subscriber_id"] for job in queues.sent.get(queue, [])} for queue in ("webhooks", "emails")}


def subscriber(channel: str, subscriber_id: str, events: list[str] | None = None) -> dict[str, Any]:
    return {"sk": subscriber_id, "channel": channel, **({"events": events} if events else {})}


INDEX = {
    # everything, on both channels
    "all": [subscriber("webhook", "wh-all"), subscriber("email", "em-all"),
            subscriber("webhook", "wh-incidents-only", events=["incident.created", "incident.updated"]),
            subscriber("webhook", "wh-starts", events=["maintenance.started"])],
    # the relay upgrade's components (the same subscriber under both: planned once)
    "c:smtp-email": [subscriber("webhook", "wh-smtp"), subscriber("email", "em-smtp"),
                     subscriber("email", "em-smtp-and-pop")],
    "c:pop3-imap-email": [subscriber("email", "em-smtp-and-pop")],
    # another component
    "c:email-marketing": [subscriber("webhook", "wh-marketing"), subscriber("email", "em-marketing")],
}


def test_a_maintenance_on_some_components_is_planned_for_their_subscribers_and_those_of_everything() -> None:
    # GIVEN subscribers of everything, of the relay upgrade's components, and of another component
    # WHEN the relay upgrade's announcement is planned
    planned = planned_for(INDEX, "scheduled")
    # THEN it goes to the subscribers of everything and of SMTP or POP3/IMAP, each once, on each channel
    assert planned == {"webhooks": {"wh-all", "wh-smtp"}, "emails": {"em-all", "em-smtp", "em-smtp-and-pop"}}
    # AND the migration of Email Marketing goes to that component's subscribers and those of everything
    migration = planned_for(INDEX, "cancelled")
    assert migration == {"webhooks": {"wh-all", "wh-marketing"}, "emails": {"em-all", "em-marketing"}}


def test_an_endpoint_filtering_by_type_is_planned_only_the_maintenance_types_it_names() -> None:
    # GIVEN an endpoint of everything filtered to maintenance.started, and one to incident types
    # THEN the start reaches the first and not the second; the other steps reach neither
    assert "wh-starts" in planned_for(INDEX, "started")["webhooks"]
    for step in ("scheduled", "reminder", "completed"):
        assert not {"wh-starts", "wh-incidents-only"} & planned_for(INDEX, step)["webhooks"], step
    assert "wh-incidents-only" not in planned_for(INDEX, "started")["webhooks"]


def test_every_maintenance_event_touches_the_components_of_its_maintenance() -> None:
    for event in maintenance_events():
        expected = RELAY_COMPONENTS if (event.incident or {})["name"] == NAME else ["email-marketing"]
        assert event.component_ids == expected, event.type
