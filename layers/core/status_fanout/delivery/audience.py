"""The audience preview (`POST /v1/audience`, docs/templates.md): how many
confirmed email subscribers, webhook endpoints and chat endpoints an event on
some components would reach now.

It reaches them the way a real event does, with the planner's own code
(`planner.notified_channels`, `event_buckets`, `reached_pages`): the same
channels, the same index partitions, the same event filter, each subscriber
once. What it does not share with the planner is only the counting, and, for
webhooks, the split by format: it reads the endpoints it reached (one
BatchGetItem per hundred) and keeps those the sender would still deliver to
(`WebhookEndpoint.wants`, what the webhook channel asks), telling chat ones
(unsigned formats) from partners'. Email subscribers are not read: their
index entries exist only while they are confirmed, written in the same
transaction as the subscriber (email/store.py), so the sender's re-check
(confirmed, wants the components) drops none of them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from status_fanout.delivery.planner import event_buckets, notified_channels, reached_pages
from status_fanout.delivery.subscriber_index import SubscriberIndex
from status_fanout.incidents.models import MAX_COMPONENTS_PER_REQUEST, ComponentId
from status_fanout.incidents.service import check_components
from status_fanout.incidents.store import IncidentStore
from status_fanout.settings import Settings
from status_fanout.webhooks.store import WebhookStore

# The events the preview can be asked about: every notifying one (a test ping is one endpoint's, planned by nobody).
PreviewEvent = Literal["incident.created", "incident.updated", "incident.postmortem", "component.updated",
                       "maintenance.scheduled", "maintenance.reminder", "maintenance.started", "maintenance.updated",
                       "maintenance.rescheduled", "maintenance.completed", "maintenance.cancelled"]
# (channel, shard) walks at once: each is a few Queries in sequence.
PARALLEL_WALKS = 16


class AudienceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    components: Annotated[list[ComponentId], Field(max_length=MAX_COMPONENTS_PER_REQUEST)] | None = Field(
        default=None, description="the components the update touches; absent: every component")
    event: PreviewEvent = Field(default="incident.updated",
                                description="the event's type, for endpoints that filter by event")


def audience(store: IncidentStore, settings: Settings, request: AudienceRequest) -> dict[str, Any]:
    """`{email, webhook, chat, total}` for an event of `request.event` on its
    components (every component when it names none); 422 naming an unknown one."""
    if request.components is None:
        components = [c.id for c in store.list_components()]
    else:
        components = list(dict.fromkeys(request.components))
        check_components(store, components)
    buckets = event_buckets(components)
    index = SubscriberIndex(store)
    channels = list(notified_channels(settings))
    walks = [(channel, shard) for channel in channels for shard in range(settings.fanout.shards)]

    def walk(channel: str, shard: int) -> list[str]:
        return [subscriber for page, _ in reached_pages(index, channel, buckets, shard, request.event)
                for subscriber in page]

    reached: dict[str, list[str]] = {channel: [] for channel in ("email", "webhook")}
    if walks:
        with ThreadPoolExecutor(max_workers=min(PARALLEL_WALKS, len(walks))) as pool:
            for (channel, _), found in zip(walks, pool.map(lambda w: walk(*w), walks), strict=True):
                reached[channel] += found
    endpoints = WebhookStore(store, settings.fanout.shards).get_many(reached["webhook"]).values()
    delivered = [e for e in endpoints if e.wants(request.event, components)]
    counts = {"email": len(reached["email"]), "webhook": sum(e.signed for e in delivered),
              "chat": sum(not e.signed for e in delivered)}
    return {**counts, "total": sum(counts.values()), "event": request.event, "components": components}
