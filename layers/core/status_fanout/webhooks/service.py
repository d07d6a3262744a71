"""The logic layer of the webhook management routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from status_fanout.chat.formats import check_destination, is_chat
from status_fanout.delivery.events import EventSnapshot, delivery_id
from status_fanout.delivery.planner import Planner
from status_fanout.delivery.subscriber_index import SubscriberIndex
from status_fanout.errors import ConflictError
from status_fanout.incidents.lifecycle import new_id
from status_fanout.incidents.service import check_components
from status_fanout.incidents.store import IncidentStore
from status_fanout.publishing import public_json
from status_fanout.settings import Settings
from status_fanout.timefmt import format_ts, utcnow
from status_fanout.webhooks import ssrf
from status_fanout.webhooks.models import (
    ReplayRequest,
    WebhookCreate,
    WebhookEndpoint,
    WebhookPatch,
    WebhookSecret,
    new_secret,
)
from status_fanout.webhooks.store import WebhookStore

ROTATION_GRACE = timedelta(hours=24)
REPLAYABLE = ("failed", "dead")
REPLAY_LIMIT = 10_000


class WebhookService:
    def __init__(self, store: IncidentStore, settings: Settings, planner: Planner | None = None,
                 resolve: ssrf.Resolver = ssrf.system_resolver, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.webhooks = WebhookStore(store, settings.fanout.shards)
        self.settings = settings
        self.planner = planner or Planner(store, SubscriberIndex(store), settings)
        self.resolve = resolve
        self.clock = clock

    def _check_url(self, url: str, body_format: str) -> str:
        """The SSRF guard, then a chat format's own host (chat.formats)."""
        webhook = self.settings.webhook
        target = ssrf.check(url, allow_http=webhook.allow_http, allow_loopback=webhook.allow_loopback,
                            resolve=self.resolve)
        if is_chat(body_format):
            check_destination(body_format, url, target.address, webhook.allow_loopback)
        return url.strip()

    def create(self, request: WebhookCreate) -> tuple[WebhookEndpoint, str | None]:
        """The new endpoint and its signing secret (None for a chat endpoint, which is not signed)."""
        url = self._check_url(request.url, request.format)
        check_components(self.store, request.components)
        now = format_ts(self.clock())
        secret = None if is_chat(request.format) else new_secret()
        endpoint = WebhookEndpoint(
            id=new_id(), url=url, description=request.description, components=request.components,
            events=list(request.events), format=request.format,
            secrets=[WebhookSecret(secret=secret, created_at=now)] if secret else [], created_at=now, updated_at=now,
        )
        return self.webhooks.save(endpoint, None), secret

    def get(self, webhook_id: str) -> WebhookEndpoint:
        return self.webhooks.get(webhook_id)

    def list_endpoints(self, limit: int, cursor: str | None) -> tuple[list[WebhookEndpoint], str | None]:
        return self.webhooks.list_endpoints(limit, cursor)

    def update(self, webhook_id: str, request: WebhookPatch) -> tuple[WebhookEndpoint, str | None]:
        """The changed endpoint, and a new signing secret when it became a signed one."""
        current = self.webhooks.get(webhook_id)
        now = format_ts(self.clock())
        changes: dict[str, Any] = {"updated_at": now}
        body_format = request.format or current.format
        if request.url is not None or body_format != current.format:
            changes["url"] = self._check_url(request.url if request.url is not None else current.url, body_format)
        secret = None
        if is_chat(body_format):
            changes["secrets"] = []
        elif not current.secrets:  # a chat endpoint became a partner one: it is signed from now on
            secret = new_secret()
            changes["secrets"] = [WebhookSecret(secret=secret, created_at=now)]
        if request.components is not None:
            check_components(self.store, request.components)
            changes["components"] = list(dict.fromkeys(request.components))
        for field in ("description", "format"):
            if getattr(request, field) is not None:
                changes[field] = getattr(request, field)
        if request.events is not None:
            changes["events"] = list(dict.fromkeys(request.events))
        if request.status == "active":
            changes.update(status="active", disabled_reason=None, disabled_at=None, failing_since=None)
        return self.webhooks.save(current.model_copy(update=changes), current), secret

    def delete(self, webhook_id: str) -> None:
        self.webhooks.delete(self.webhooks.get(webhook_id))

    def rotate_secret(self, webhook_id: str) -> tuple[WebhookEndpoint, str]:
        """A new secret signs from now on; the old one keeps signing for 24 h."""
        current = self.webhooks.get(webhook_id)
        if not current.signed:
            raise ConflictError(f"a {current.format} endpoint has no secret: its URL is its credential, "
                                "so register the app's new URL to change it")
        now = self.clock()
        now_text = format_ts(now)
        retires = format_ts(now + ROTATION_GRACE)
        kept = [s.model_copy(update={"retires_at": s.retires_at or retires})
                for s in current.secrets if s.retires_at is None or s.retires_at > now_text]
        secret = new_secret()
        rotated = current.model_copy(update={
            "secrets": [WebhookSecret(secret=secret, created_at=now_text), *kept], "updated_at": now_text})
        return self.webhooks.save(rotated, current), secret

    def send_test(self, webhook_id: str) -> str:
        endpoint = self.webhooks.get(webhook_id)
        components = self.store.list_components()
        status = public_json.status_object(components, self.store.list_unresolved(),
                                           self.store.list_open_maintenances())
        event = self.planner.events.put(test_event(self.settings, endpoint.id, status),
                                        int(self.clock().timestamp()) + 86400)
        job = self._job(event.id, event.type, event.occurred_at, endpoint.id)
        self.planner.send(self.settings.webhook.queue_url, [job])
        return str(job["delivery_id"])

    def deliveries(self, webhook_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        self.webhooks.get(webhook_id)
        return self.webhooks.deliveries(webhook_id, limit, cursor)

    def replay(self, webhook_id: str, request: ReplayRequest) -> int:
        """Re-send every delivery to this endpoint that failed or was dead-lettered since `since`."""
        self.webhooks.get(webhook_id)
        since = format_ts(request.since)
        jobs: dict[str, dict[str, Any]] = {}
        cursor = None
        while len(jobs) < REPLAY_LIMIT:
            page, cursor = self.webhooks.deliveries(webhook_id, 100, cursor, since=since)
            for item in page:
                if item.get("status") in REPLAYABLE:
                    jobs[item["delivery_id"]] = self._job(item["event_id"], item.get("event_type", ""),
                                                          item["occurred_at"], webhook_id)
            if cursor is None:
                break
        self.planner.send(self.settings.webhook.queue_url, list(jobs.values()))
        return len(jobs)

    @staticmethod
    def _job(event_id: str, event_type: str, occurred_at: str, webhook_id: str) -> dict[str, Any]:
        return {"delivery_id": delivery_id(event_id, webhook_id), "event_id": event_id, "event_type": event_type,
                "occurred_at": occurred_at, "subscriber_id": webhook_id}


def test_event(settings: Settings, endpoint_id: str, status: dict[str, str]) -> EventSnapshot:
    """The snapshot of a `webhook.test` ping for one endpoint."""
    now = format_ts(utcnow())
    return EventSnapshot(
        id=f"test:{endpoint_id}:{new_id()}", type="webhook.test", occurred_at=now,
        page=public_json.page_object(settings, now), status=status,
        message="This is a test event from status-fanout. Verify its signature with your endpoint's secret.",
    )
