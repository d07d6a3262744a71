"""The fan-out engine, shared by every channel.

1. `notifying_events` reads stream records and finds what notifies: a new
   update with deliver_notifications, a first-published postmortem that
   notifies, a component status changed by PATCH.
2. `Planner.plan_event` freezes the event's data (one snapshot, written once)
   and enqueues one planning job per (channel, shard) on the plan queue.
3. `Planner.plan_shard` pages through that shard's partitions of the
   subscriber index (the "all" bucket and one per touched component, so no
   scan and no hot partition), drops what the subscriber filtered out, and
   enqueues one delivery job per subscriber with SendMessageBatch.

Every (event, subscriber) pair has one deterministic delivery id, so a
repeated stream record or a retried job only re-enqueues jobs the channel's
sender recognises and drops. docs/fan-out.md has the design and its limits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from status_fanout.clients import aws_client
from status_fanout.delivery.events import EventSnapshot, EventStore, delivery_id
from status_fanout.delivery.jobs import SQS_BATCH, enqueue
from status_fanout.delivery.subscriber_index import ALL, SubscriberIndex
from status_fanout.dynamo import from_item
from status_fanout.incidents import lifecycle
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.incidents.store import IncidentStore
from status_fanout.publishing import public_json
from status_fanout.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

SNAPSHOT_DAYS = 30
# A planning job stops reading the index with this much of its invocation
# left, and hands the rest of its shard on as a continuation job.
CONTINUE_WITH_SECONDS_LEFT = 20.0


@dataclass(frozen=True)
class EventRef:
    """A notifying change, named by what is needed to snapshot it."""

    kind: str  # update | postmortem | component
    incident_id: str = ""
    update_seq: int = 0
    component_id: str = ""
    old_status: str = ""
    version: int = 0

    @property
    def id(self) -> str:
        if self.kind == "update":
            return f"upd:{self.incident_id}:{self.update_seq}"
        if self.kind == "postmortem":
            return f"pm:{self.incident_id}"
        return f"cmp:{self.component_id}:{self.version}"


def notifying_events(records: Iterable[Mapping[str, Any]]) -> list[EventRef]:
    events: list[EventRef] = []
    for record in records:
        change = record.get("dynamodb", {})
        new = from_item(change.get("NewImage", {}))
        old = from_item(change.get("OldImage", {}))
        kind = new.get("type")
        if kind == "update" and not old and new.get("deliver_notifications") and not new.get("backfilled"):
            events.append(EventRef("update", incident_id=new["incident_id"], update_seq=int(new["seq"])))
        elif (kind == "incident" and new.get("postmortem_published_at") and new.get("postmortem_notify")
              and not old.get("postmortem_published_at")):
            events.append(EventRef("postmortem", incident_id=new["id"]))
        elif (kind == "component" and new.get("changed_by") == "patch" and old
              and old.get("status") != new.get("status")):
            events.append(EventRef("component", component_id=new["id"], old_status=old["status"],
                                   version=int(new.get("version", 0))))
    return events


# --- who an event reaches (the planner's, and the audience preview's: delivery/audience.py) ---

def notified_channels(settings: Settings) -> dict[str, str]:
    """The channels that take part, by name, with their delivery queues. A
    channel takes part once its queue exists; its subscribers are in the same
    sharded index (subscriber_index), under its own name."""
    return {name: url for name, url in (("webhook", settings.webhook.queue_url),
                                        ("email", settings.email.queue_url)) if url}


def event_buckets(component_ids: Iterable[str]) -> list[str]:
    """The index partitions an event on these components reaches: everything's, and each component's."""
    return [ALL, *(f"c:{c}" for c in component_ids)]


def reached(entries: Iterable[Mapping[str, Any]], event_type: str, seen: set[str]) -> list[str]:
    """The subscribers of these index entries an event of `event_type` reaches:
    not those whose event filter leaves it out, and none already in `seen`
    (a subscriber of two touched components is in both partitions); adds them to it."""
    found = []
    for entry in entries:
        subscriber_id = entry["sk"]
        events = entry.get("events") or []
        if subscriber_id in seen or (events and event_type not in events):
            continue
        seen.add(subscriber_id)
        found.append(subscriber_id)
    return found


Resume = tuple[int, dict[str, Any] | None]


def reached_pages(index: SubscriberIndex, channel: str, buckets: list[str], shard: int, event_type: str,
                  position: int = 0, start: dict[str, Any] | None = None) -> Iterator[tuple[list[str], Resume | None]]:
    """Walk one shard of a channel's index through `buckets` from (`position`,
    `start`), one page a step: yield the subscribers each page adds (`reached`)
    and where the walk goes on, (bucket position, page start), or None at its
    end. Every entry of one subscriber is in one shard, so a walk of a whole
    shard yields each subscriber once; one resumed elsewhere may yield again
    one met before (its delivery id is the same, and the sender drops it)."""
    seen: set[str] = set()
    for at in range(position, len(buckets)):
        while True:
            entries, start = index.subscribers_page(channel, buckets[at], shard, start)
            if start:
                rest: Resume | None = (at, start)
            else:
                rest = (at + 1, None) if at + 1 < len(buckets) else None
            yield reached(entries, event_type, seen), rest
            if not start:
                break


class Planner:
    sqs = aws_client("sqs")

    def __init__(self, store: IncidentStore, index: SubscriberIndex, settings: Settings,
                 sqs: SQSClient | None = None, events: EventStore | None = None) -> None:
        self.store = store
        self.index = index
        self.events = events or EventStore(store)
        self.settings = settings
        self._sqs = sqs
        self.channels = notified_channels(settings)


    # --- snapshots --------------------------------------------------------

    def snapshot(self, ref: EventRef) -> EventSnapshot | None:
        """Build the event's frozen data and store it once; None if it vanished."""
        components = {c.id: c for c in self.store.list_components()}
        status = public_json.status_object(components.values(), self.store.list_unresolved(),
                                           self.store.list_open_maintenances())
        if ref.kind == "component":
            event = self._component_event(ref, components, status)
        else:
            loaded = self.store.load_incident(ref.incident_id)
            if loaded is None:
                return None
            event = self._incident_event(ref, *loaded, components, status)
        if event is None:
            return None
        return self.events.put(event, int(time.time()) + SNAPSHOT_DAYS * 86400)

    def _incident_event(self, ref: EventRef, incident: Incident, updates: list[IncidentUpdate],
                        components: dict[str, Component], status: dict[str, str]) -> EventSnapshot | None:
        page = public_json.page_object(self.settings, incident.updated_at)
        if ref.kind == "postmortem":
            body = public_json.incident_object(incident, updates, components, self.settings)
            update = {"status": "postmortem", "label": lifecycle.POSTMORTEM_LABEL, "body": incident.postmortem_body,
                      "display_at": incident.postmortem_published_at, "incident_id": incident.id}
            return EventSnapshot(
                id=ref.id, type="incident.postmortem",
                occurred_at=incident.postmortem_published_at or incident.updated_at,
                incident_id=incident.id, component_ids=incident.component_ids, page=page, status=status,
                incident=body, update=update, sequence=incident.version, labels=lifecycle.labels(updates),
            )
        upto = [u for u in updates if u.seq <= ref.update_seq]
        current = next((u for u in upto if u.seq == ref.update_seq), None)
        if current is None:
            return None
        # The incident as it stood when this update was posted: later updates
        # and a postmortem published since are not part of this event.
        as_of = lifecycle.derive(incident, upto).model_copy(update={"updated_at": current.created_at})
        if (incident.postmortem_published_at or "") > current.created_at:
            as_of = as_of.model_copy(update={"postmortem_body": None, "postmortem_published_at": None,
                                             "postmortem_updated_at": None})
        labels = lifecycle.labels(upto)
        update = {**public_json.update_object(current), "label": labels[current.id]}
        touched = list(dict.fromkeys([*as_of.component_ids, *(a.code for a in current.affected_components or [])]))
        if incident.is_maintenance:  # the maintenance as it stood, with its clock's fields
            body = public_json.maintenance_object(as_of, upto, components, self.settings, full=True)
            event_type = f"maintenance.{current.step or 'updated'}"
        else:
            body = public_json.incident_object(as_of, upto, components, self.settings)
            event_type = "incident.created" if current.seq == 1 else "incident.updated"
        return EventSnapshot(
            id=ref.id, type=event_type,  # type: ignore[arg-type]  # one of EventType's maintenance.* names
            occurred_at=current.created_at, incident_id=incident.id, component_ids=touched, page=page,
            status=status, incident=body, update=update, sequence=current.incident_version or current.seq,
            labels=labels,
        )

    def _component_event(self, ref: EventRef, components: dict[str, Component],
                         status: dict[str, str]) -> EventSnapshot | None:
        component = components.get(ref.component_id)
        if component is None:
            return None
        page = public_json.page_object(self.settings, component.updated_at)
        return EventSnapshot(
            id=ref.id, type="component.updated", occurred_at=component.updated_at,
            component_ids=[component.id], page=page, status=status,
            component=public_json.component_object(component, page["id"]),
            component_update={
                "old_status": ref.old_status, "new_status": component.status, "created_at": component.updated_at,
                "component_type": "Component", "id": f"{component.id}-{ref.version}", "component_id": component.id,
            },
        )

    # --- planning ---------------------------------------------------------

    def plan_event(self, event: EventSnapshot) -> int:
        """Enqueue one planning job per (channel, shard); returns how many."""
        buckets = event_buckets(event.component_ids)
        if event.type == "webhook.test":
            return 0
        jobs = [
            {"event_id": event.id, "event_type": event.type, "occurred_at": event.occurred_at,
             "component_ids": event.component_ids, "channel": channel, "shard": shard, "buckets": buckets}
            for channel in self.channels
            for shard in range(self.settings.fanout.shards)
        ]
        self.send(self.settings.fanout.plan_queue_url, jobs)
        return len(jobs)

    def plan_shard(self, job: Mapping[str, Any], seconds_left: Callable[[], float] = lambda: math.inf) -> int:
        """Enqueue a delivery job for every subscriber of one shard; returns how many.

        A shard too big for one invocation is planned in parts: when
        `seconds_left` drops under CONTINUE_WITH_SECONDS_LEFT, what is left
        (the bucket and the index page to start from) goes back on the plan
        queue as a continuation job. A subscriber in two component buckets
        may then be enqueued twice; its delivery id is the same, and the
        sender drops the second."""
        channel = job["channel"]
        batch: list[dict[str, Any]] = []
        sent = 0

        def hand_on(position: int, start: dict[str, Any] | None) -> int:
            """Enqueue what was read, and the rest of the shard as a continuation job."""
            done = self.send(self.channels[channel], batch) if batch else 0
            self.send(self.settings.fanout.plan_queue_url, [{**job, "bucket_index": position, "start": start}])
            return done

        # Checked before every page, the first included: a later job of a
        # batch may start with little of the invocation left.
        if seconds_left() < CONTINUE_WITH_SECONDS_LEFT:
            return hand_on(int(job.get("bucket_index", 0)), job.get("start"))
        pages = reached_pages(self.index, channel, list(job["buckets"]), int(job["shard"]), job["event_type"],
                              int(job.get("bucket_index", 0)), job.get("start"))
        for subscriber_ids, rest in pages:
            for subscriber_id in subscriber_ids:
                batch.append({
                    "delivery_id": delivery_id(job["event_id"], subscriber_id),
                    "event_id": job["event_id"], "event_type": job["event_type"],
                    "occurred_at": job["occurred_at"], "subscriber_id": subscriber_id,
                })
                if len(batch) == SQS_BATCH:
                    sent += self.send(self.channels[channel], batch)
                    batch = []
            if rest is not None and seconds_left() < CONTINUE_WITH_SECONDS_LEFT:
                return sent + hand_on(*rest)
        if batch:
            sent += self.send(self.channels[channel], batch)
        return sent

    def send(self, queue_url: str, bodies: list[dict[str, Any]], delay: int = 0) -> int:
        return enqueue(self.sqs, queue_url, bodies, delay)
