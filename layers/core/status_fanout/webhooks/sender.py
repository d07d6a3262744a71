"""The webhook sender: one SQS batch of delivery jobs, many in flight at once.

Per batch: read the batch's endpoints (one BatchGetItem) and events; skip a
job whose endpoint is gone, disabled or no longer wants the event; claim the
rest in one transaction (delivery_claims: a delivery already made is never
made again). Per delivery: check the URL against the SSRF guard and dial the
checked address; sign with every live secret; log the attempt, which also
ends its claim. A failure sets the message's visibility to the next step of
the retry schedule (with jitter, or later if the endpoint sent Retry-After)
and reports it as a batch item failure, so SQS itself holds the retry: no
Lambda sleeps. After the last step the job goes to the dead-letter queue and
stays replayable.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from status_fanout.delivery.claims import BUSY, CLAIMED
from status_fanout.delivery.jobs import (
    DELIVERY_JOB_FIELDS,
    JITTER,
    MAX_VISIBILITY,
    BatchMemo,
    PoisonMessage,
    backoff,
    dead_letter_poison,
    first_per_key,
    hold,
    parse_job,
)
from status_fanout.errors import ConflictError, InvalidFieldError, NotFoundError
from status_fanout.observability import count, logger
from status_fanout.settings import Settings
from status_fanout.timefmt import format_ts, parse_ts, utcnow
from status_fanout.webhooks import ssrf
from status_fanout.webhooks.models import (
    EventSnapshot,
    WebhookEndpoint,
    sign,
    signing_secrets,
    standard_body,
    statuspage_body,
)
from status_fanout.webhooks.store import WebhookStore
from status_fanout.webhooks.transport import Dialer, Outcome

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

MAX_IN_FLIGHT = 32
# How long a claim is ours when the caller does not say (Lambda passes the
# invocation's remaining time): a crashed attempt's delivery is retried after it.
DEFAULT_LEASE_SECONDS = 120


class RetryLater(Exception):
    """The attempt failed; the message comes back after `delay` seconds."""

    def __init__(self, delay: int) -> None:
        super().__init__(f"retry in {delay} s")
        self.delay = delay


def busy_delay(base: int, attempt: int, lease_seconds: int, rng: random.Random) -> int:
    """When to look again at a delivery another attempt holds. Usually that is
    a duplicate job whose twin finishes within seconds, so soon at first, then
    doubling up to the holder's lease, so a crashed holder's delivery does not
    use up the queue's receives before its lease runs out."""
    return max(1, min(lease_seconds, backoff(max(1, base), attempt, rng)))


def next_delay(schedule: tuple[int, ...], attempt: int, retry_after: int | None, rng: random.Random) -> int | None:
    """Seconds until the next attempt after failed attempt `attempt` (1-based); None when exhausted."""
    if attempt > len(schedule):
        return None
    base = schedule[attempt - 1]
    delay = base * (1 + rng.uniform(-JITTER, JITTER))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return int(min(MAX_VISIBILITY, max(0, round(delay))))


class WebhookSender:
    def __init__(self, webhooks: WebhookStore, settings: Settings,
                 sqs: SQSClient | None = None, dialer: Dialer | None = None,
                 resolve: ssrf.Resolver = ssrf.system_resolver, notify_staff: Callable[[str], None] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.webhooks = webhooks
        self.settings = settings
        self._sqs = sqs
        # As many pooled connections per address as deliveries in flight: a
        # batch for one partner host reuses them instead of dialling anew.
        self.dialer = dialer or Dialer(settings.webhook_timeout_seconds, max_per_host=MAX_IN_FLIGHT)
        self.resolve = resolve
        self.notify_staff = notify_staff or (lambda message: logger.warning(message))
        self.clock = clock
        self.rng = random.Random()

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            self._sqs = boto3.client("sqs")
        return self._sqs

    # --- the batch --------------------------------------------------------

    def handle_batch(self, records: Sequence[Mapping[str, Any]], queue_url: str,
                     lease_seconds: int = DEFAULT_LEASE_SECONDS) -> dict[str, Any]:
        failures: list[dict[str, str]] = []

        def failed(record: Mapping[str, Any], delay: int) -> None:
            self._hold(queue_url, record, delay)
            failures.append({"itemIdentifier": record["messageId"]})
            self._count_if_last_receive(record)

        jobs: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
        for record in records:
            try:
                jobs.append((record, parse_job(record["body"], DELIVERY_JOB_FIELDS)))
            except PoisonMessage as poison:
                if dead_letter_poison(self.sqs, self.settings.webhook_dlq_url, record, str(poison)):
                    count("PoisonMessages")
                else:
                    failures.append({"itemIdentifier": record["messageId"]})
        jobs = first_per_key(jobs, lambda job: str(job["delivery_id"]))
        try:
            due = self._due(jobs)
            now = int(self.clock().timestamp())
            claims = self.webhooks.claim_deliveries([job for _, job, _, _ in due], now, now + lease_seconds)
        except Exception:  # the store failed: every job of the batch comes back soon
            logger.exception("could not claim the batch's deliveries")
            for record, _ in jobs:
                count("WebhooksFailed")
                failed(record, self.settings.webhook_retry_schedule[0])
            return {"batchItemFailures": failures}

        targets = BatchMemo()

        def one(item: tuple[Mapping[str, Any], dict[str, Any], WebhookEndpoint, EventSnapshot]) -> None:
            record, job, endpoint, event = item
            claim = claims.get(job["delivery_id"])
            try:
                if claim == BUSY:  # another attempt holds it: see how it ended
                    raise RetryLater(busy_delay(self.settings.webhook_retry_schedule[0],
                                                self._receive_count(record), lease_seconds, self.rng))
                if claim == CLAIMED:
                    self._attempt(job, endpoint, event, self._receive_count(record), targets)
            except RetryLater as retry:
                failed(record, retry.delay)
            except Exception:  # one bad job never sinks the batch
                logger.exception("delivery job failed", extra={"message_id": record.get("messageId")})
                count("WebhooksFailed")
                self._release(job)
                # Back soon, not after the queue's long visibility timeout.
                failed(record, self.settings.webhook_retry_schedule[0])

        with ThreadPoolExecutor(max_workers=max(1, min(MAX_IN_FLIGHT, len(due)))) as pool:
            list(pool.map(one, due))
        return {"batchItemFailures": failures}

    def _due(self, jobs: list[tuple[Mapping[str, Any], dict[str, Any]]]
             ) -> list[tuple[Mapping[str, Any], dict[str, Any], WebhookEndpoint, EventSnapshot]]:
        """The jobs to attempt, with their endpoint and event: not the ones whose
        endpoint or event is gone, or whose endpoint is off or does not want the event."""
        endpoints = self.webhooks.get_many(list({job["subscriber_id"] for _, job in jobs}))
        events = {event_id: self.webhooks.get_event(event_id) for event_id in {job["event_id"] for _, job in jobs}}
        due = []
        for record, job in jobs:
            endpoint, event = endpoints.get(job["subscriber_id"]), events[job["event_id"]]
            if endpoint is None or event is None:
                logger.info("dropped: endpoint or event gone", extra={"delivery_id": job["delivery_id"]})
            elif endpoint.status == "active" and (event.type == "webhook.test"
                                                  or endpoint.wants(event.type, event.component_ids)):
                due.append((record, job, endpoint, event))
        return due

    @staticmethod
    def _receive_count(record: Mapping[str, Any]) -> int:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))

    def _release(self, job: Mapping[str, Any]) -> None:
        try:
            self.webhooks.release_delivery(job)
        except Exception:  # its lease runs out instead
            logger.exception("could not release a delivery's claim", extra={"delivery_id": job["delivery_id"]})

    def _hold(self, queue_url: str, record: Mapping[str, Any], delay: int) -> None:
        hold(self.sqs, queue_url, record["receiptHandle"], delay)

    def _count_if_last_receive(self, record: Mapping[str, Any]) -> None:
        """A job that failed on its queue's last receive is moved to the dead-letter queue by SQS's redrive."""
        if self._receive_count(record) >= self.settings.webhook_max_receives:
            count("WebhooksDeadLettered")

    def _attempt(self, job: Mapping[str, Any], endpoint: WebhookEndpoint, event: EventSnapshot,
                 attempt: int, targets: BatchMemo | None = None) -> str:
        """One claimed attempt; its log entry ends the claim. Returns the outcome,
        or raises RetryLater. `targets` shares each URL's checked address within
        the batch: the connection is pinned to the address checked, so a name
        that changes meanwhile cannot redirect it."""
        now = self.clock()
        now_text = format_ts(now)
        try:
            target = (targets or BatchMemo()).get(endpoint.url, lambda: ssrf.check(
                endpoint.url, allow_http=self.settings.webhook_allow_http,
                allow_loopback=self.settings.webhook_allow_loopback, resolve=self.resolve))
            outcome = self._post(target, job, endpoint, event, now)
        except InvalidFieldError as refused:
            outcome = Outcome(None, 0, error=f"refused: {refused.message}")
        entry = {"at": now_text, "attempt": attempt, "status_code": outcome.status, "error": outcome.error,
                 "latency_ms": outcome.latency_ms, "response": outcome.excerpt[:200] or None}
        if outcome.delivered:
            self.webhooks.record_attempt(endpoint.id, job, entry, "delivered", None, int(now.timestamp()))
            if endpoint.failing_since:
                self.webhooks.clear_failing(endpoint.id)
            count("WebhooksSent")
            return "delivered"
        count("WebhooksFailed")
        if outcome.gone:
            self.webhooks.record_attempt(endpoint.id, job, entry, "gone", None, int(now.timestamp()))
            self.disable(endpoint.id, "the endpoint answered 410 Gone")
            return "gone"
        delay = next_delay(self.settings.webhook_retry_schedule, attempt, outcome.retry_after, self.rng)
        failing_since = self.webhooks.mark_failing(endpoint.id, now_text)
        if parse_ts(failing_since) <= now - timedelta(seconds=self.settings.webhook_disable_after_seconds):
            self.disable(endpoint.id, f"every delivery failed since {failing_since}")
        if delay is None:
            self.webhooks.record_attempt(endpoint.id, job, entry, "dead", None, int(now.timestamp()))
            self._dead_letter(job)
            count("WebhooksDeadLettered")
            return "dead"
        next_at = format_ts(now + timedelta(seconds=delay))
        self.webhooks.record_attempt(endpoint.id, job, entry, "failed", next_at, int(now.timestamp()))
        raise RetryLater(delay)

    def _post(self, target: ssrf.Target, job: Mapping[str, Any], endpoint: WebhookEndpoint, event: EventSnapshot,
              now: datetime) -> Outcome:
        if endpoint.format == "statuspage":
            document = statuspage_body(event, endpoint.id, format_ts(now))
        else:
            document = standard_body(event)
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(now.timestamp())
        headers = {
            "webhook-id": job["delivery_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(signing_secrets(endpoint, format_ts(now)), job["delivery_id"], timestamp, body),
        }
        return self.dialer.post(target, headers, body)

    def _dead_letter(self, job: Mapping[str, Any]) -> None:
        """After the last scheduled attempt: park the job where replay and redrive find it."""
        if self.settings.webhook_dlq_url:
            self.sqs.send_message(QueueUrl=self.settings.webhook_dlq_url, MessageBody=json.dumps(job))

    def disable(self, webhook_id: str, reason: str) -> None:
        for _ in range(5):
            try:
                endpoint = self.webhooks.get(webhook_id)
                if endpoint.status == "disabled":
                    return
                now = format_ts(self.clock())
                self.webhooks.save(endpoint.model_copy(update={
                    "status": "disabled", "disabled_reason": reason, "disabled_at": now, "updated_at": now}), endpoint)
                self.notify_staff(f"Webhook {webhook_id} ({endpoint.url}) was disabled: {reason}")
                return
            except ConflictError:
                time.sleep(0.05)
            except NotFoundError:
                return

