"""Webhooks as a channel of the delivery engine: signed HTTP POSTs to
partners, and messages to chat apps' incoming webhooks (status_fanout.chat).

Per delivery: check the URL against the SSRF guard and dial the checked
address (pinned, so a name that changes meanwhile cannot redirect it); build
the body in the endpoint's format (once per event and format within a batch,
but Statuspage's, which names the endpoint); sign a partner's with every
live secret (a chat app's is not signed: its URL is the credential). The
answer decides: 2xx delivered; 410, and a chat app's 404, gone (the endpoint
is disabled); a chat app's 400 rejected (dead-lettered at once, its answer in
the log); 429 retried when its Retry-After (or Discord's JSON `retry_after`)
says; anything else a retry on the endpoint's schedule, never sooner than
its Retry-After. The delivery-log entry of each attempt ends its claim. An
endpoint failing for `settings.webhook.disable_after_seconds` is disabled and
staff are told.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from status_fanout.chat import formats as chat_formats
from status_fanout.delivery.claims import ClaimRequest
from status_fanout.delivery.engine import DELIVERED, FAILED, GONE, REJECTED, Answer, Delivery
from status_fanout.delivery.events import EventSnapshot
from status_fanout.delivery.jobs import DELIVERY_JOB_FIELDS, BatchMemo
from status_fanout.delivery.retry import scheduled_delay
from status_fanout.dynamo import retry_conflicts
from status_fanout.errors import InvalidFieldError, NotFoundError
from status_fanout.observability import logger
from status_fanout.settings import Settings
from status_fanout.timefmt import format_ts, parse_ts, utcnow
from status_fanout.webhooks import ssrf
from status_fanout.webhooks.models import WebhookEndpoint, sign, signing_secrets, standard_body, statuspage_body
from status_fanout.webhooks.store import WebhookStore
from status_fanout.webhooks.transport import Dialer, Outcome

MAX_IN_FLIGHT = 32


def encode(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookChannel:
    name = "Webhooks"
    done_status = "delivered"

    def __init__(self, webhooks: WebhookStore, settings: Settings, dialer: Dialer | None = None,
                 resolve: ssrf.Resolver = ssrf.system_resolver, notify_staff: Callable[[str], None] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.webhooks = webhooks
        self.settings = settings
        self.webhook = settings.webhook  # its section; links_base is the whole settings'
        self.max_in_flight = MAX_IN_FLIGHT
        self.dlq_url = settings.webhook.dlq_url
        self.max_receives = settings.webhook.max_receives
        # A job that broke off before its attempt, or found its delivery held,
        # comes back after the schedule's first (scaled) step, never under 1 s.
        self.retry_base = max(1, round(settings.webhook.retry_delays[0]))
        # As many pooled connections per address as deliveries in flight: a
        # batch for one partner host reuses them instead of dialling anew.
        self.dialer = dialer or Dialer(settings.webhook.timeout_seconds, max_per_host=MAX_IN_FLIGHT)
        self.resolve = resolve
        self.notify_staff = notify_staff or (lambda message: logger.warning(message))
        self.clock = clock

    # --- what the engine asks of a channel ------------------------------------------

    def job_fields(self, job: Mapping[str, Any]) -> Iterable[str]:
        return (*DELIVERY_JOB_FIELDS, "occurred_at")  # the delivery log's sort key

    def claim_request(self, job: Mapping[str, Any]) -> ClaimRequest:
        return self.webhooks.delivery_claim(job, int(self.clock().timestamp()))

    def recipients(self, ids: list[str]) -> Mapping[str, WebhookEndpoint]:
        return self.webhooks.get_many(ids)

    def wants(self, recipient: WebhookEndpoint, event: EventSnapshot) -> bool:
        return recipient.status == "active" and (event.type == "webhook.test"
                                                 or recipient.wants(event.type, event.component_ids))

    def retry_delay(self, attempt: int, retry_after: int | None, rng: random.Random) -> int | None:
        return scheduled_delay(self.webhook.retry_delays, attempt, retry_after, rng)

    def prepare(self) -> None:
        pass

    def send(self, delivery: Delivery, memo: BatchMemo) -> Answer:
        """One POST. `memo` shares each URL's checked address, and each event's body, within the batch."""
        endpoint, event, now = delivery.recipient, delivery.event, self.clock()
        assert event is not None
        try:
            target = memo.get(endpoint.url, lambda: ssrf.check(
                endpoint.url, allow_http=self.webhook.allow_http,
                allow_loopback=self.webhook.allow_loopback, resolve=self.resolve))
        except InvalidFieldError as refused:
            outcome = Outcome(None, 0, error=f"refused: {refused.message}")
            error = outcome.error
        else:
            outcome = self._post(target, delivery.job, endpoint, event, now, memo)
            error = outcome.error
            if error and not endpoint.signed:  # a chat URL's path is its credential: never in the log
                error = error.replace(target.path, "/…")
        entry = {"at": format_ts(now), "attempt": delivery.attempt, "status_code": outcome.status,
                 "error": error, "latency_ms": outcome.latency_ms, "response": outcome.excerpt[:200] or None}
        if outcome.delivered:
            return Answer(DELIVERED, entry)
        return Answer(self._meaning(endpoint, outcome.status), entry, outcome.retry_after,
                      throttled=outcome.status == 429)

    @staticmethod
    def _meaning(endpoint: WebhookEndpoint, status: int | None) -> str:
        """What a refusal means. A chat app's 404 is a deleted webhook and its 400
        a message it will never take; a partner's 404 may be a deploy, so retried."""
        if status == 410 or (status == 404 and not endpoint.signed):
            return GONE
        if status == 400 and not endpoint.signed:
            return REJECTED
        return FAILED

    def record(self, delivery: Delivery, status: str, answer: Answer, next_retry_at: str | None) -> dict[str, Any]:
        """The attempt's delivery-log item (its commit ends the claim), after what
        the attempt says of the endpoint is written."""
        endpoint: WebhookEndpoint = delivery.recipient
        now = self.clock()
        if status == self.done_status:
            if endpoint.failing_since:
                self.webhooks.clear_failing(endpoint.id)
        elif status == GONE:
            code = (answer.detail or {}).get("status_code")
            self.disable(endpoint.id, f"the endpoint answered {code} ({'Gone' if code == 410 else 'Not Found'})")
        elif answer.outcome == REJECTED:
            pass  # that message was refused, not the endpoint: it stays active
        else:
            failing_since = self.webhooks.mark_failing(endpoint.id, format_ts(now))
            if parse_ts(failing_since) <= now - timedelta(seconds=self.webhook.disable_after_seconds):
                self.disable(endpoint.id, f"every delivery failed since {failing_since}")
        return self.webhooks.attempt_outcome(delivery.held, answer.detail, status, next_retry_at,
                                             int(now.timestamp()))

    # --- one POST -------------------------------------------------------------------

    def _post(self, target: ssrf.Target, job: Mapping[str, Any], endpoint: WebhookEndpoint, event: EventSnapshot,
              now: datetime, memo: BatchMemo) -> Outcome:
        if endpoint.format == "statuspage":  # names the endpoint: built for each
            body = encode(statuspage_body(event, endpoint.id, format_ts(now), self.settings.links_base))
        else:  # the same bytes for every endpoint of this format
            body = memo.get(f"body\x00{event.id}\x00{endpoint.format}", lambda: encode(
                standard_body(event) if endpoint.format == "standard" else chat_formats.body(endpoint.format, event)))
        if not endpoint.signed:
            return self.dialer.post(target, {}, body)
        timestamp = int(now.timestamp())
        headers = {
            "webhook-id": job["delivery_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(signing_secrets(endpoint, format_ts(now)), job["delivery_id"], timestamp, body),
        }
        return self.dialer.post(target, headers, body)

    def disable(self, webhook_id: str, reason: str) -> None:
        def apply() -> None:
            endpoint = self.webhooks.get(webhook_id)
            if endpoint.status == "disabled":
                return
            now = format_ts(self.clock())
            self.webhooks.save(endpoint.model_copy(update={
                "status": "disabled", "disabled_reason": reason, "disabled_at": now, "updated_at": now}), endpoint)
            self.notify_staff(f"Webhook {webhook_id} ({endpoint.shown_url}) was disabled: {reason}")

        try:
            retry_conflicts(apply, "the endpoint")
        except NotFoundError:  # deleted meanwhile: nothing to disable
            return
