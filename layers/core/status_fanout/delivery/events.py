"""What every channel delivers: the event snapshot, frozen once when the event
happens, and the one delivery id of each (event, subscriber) pair."""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from status_fanout.dynamo import Store, to_item

EventType = Literal["incident.created", "incident.updated", "incident.postmortem", "component.updated", "webhook.test",
                    "maintenance.scheduled", "maintenance.reminder", "maintenance.started", "maintenance.updated",
                    "maintenance.rescheduled", "maintenance.completed", "maintenance.cancelled"]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
EVENT_SK = "#EVENT"
# Snapshots never change once written, so a container keeps the ones it read.
CACHED_EVENTS = 256


class EventSnapshot(BaseModel):
    """What happened, frozen when it happened: every retry and every
    subscriber of one event gets the same data."""

    model_config = ConfigDict(defer_build=True)
    id: str
    type: EventType
    occurred_at: str
    incident_id: str | None = None
    component_ids: list[str] = Field(default_factory=list)
    page: dict[str, Any]
    status: dict[str, str]
    incident: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    component: dict[str, Any] | None = None
    component_update: dict[str, Any] | None = None
    sequence: int | None = None
    message: str | None = None
    # Each of the incident's updates' labels by update id, as the status page
    # shows them (`lifecycle.labels`): a maintenance's are its steps' ("Reminder",
    # "Rescheduled", "Cancelled"), which its public JSON does not carry. Empty in
    # a snapshot written before this field: readers fall back to the statuses.
    labels: dict[str, str] = Field(default_factory=dict)



def delivery_id(event_id: str, subscriber_id: str) -> str:
    """The one id of an (event, subscriber) pair: the `webhook-id` header,
    stable across retries and replays, and the key that drops repeats."""
    digest = hashlib.sha256(f"{event_id}\x00{subscriber_id}".encode()).digest()
    return "msg_" + base64.b32encode(digest).decode().rstrip("=").lower()[:26]



class EventStore:
    """Event snapshots on the one table (`EVT#{id}` / `#EVENT`, docs/data-model.md)."""

    def __init__(self, db: Store) -> None:
        self.db = db
        self._cache: dict[str, EventSnapshot] = {}
        self._lock = threading.Lock()

    def put(self, event: EventSnapshot, expires_at: int) -> EventSnapshot:
        """Store the snapshot once; a repeat (duplicate stream record) returns the first one."""
        try:
            self.db.call("put_item", Item=to_item({
                "pk": f"EVT#{event.id}", "sk": EVENT_SK, "type": "event", "payload": event.model_dump_json(),
                "expires_at": expires_at}), ConditionExpression="attribute_not_exists(pk)")
            return event
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            stored = self.get(event.id)
            if stored is None:
                raise
            return stored

    def get(self, event_id: str) -> EventSnapshot | None:
        with self._lock:
            cached = self._cache.get(event_id)
        if cached is not None:
            return cached
        item = self.db.call("get_item", Key=to_item({"pk": f"EVT#{event_id}", "sk": EVENT_SK}),
                            ConsistentRead=True).get("Item")
        if not item:
            return None
        event = EventSnapshot.model_validate_json(item["payload"]["S"])
        with self._lock:
            if len(self._cache) >= CACHED_EVENTS:
                self._cache.pop(next(iter(self._cache)))
            self._cache[event_id] = event
        return event

