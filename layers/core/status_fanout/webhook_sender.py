"""The webhook sender: one SQS batch of delivery jobs, many in flight at once.

Per job: skip it if the endpoint is gone, disabled or no longer wants the
event; claim the delivery id (Powertools Idempotency: a delivery already made
is never made again); check the URL against the SSRF guard and dial the
checked address; sign with every live secret; log the attempt. A failure
sets the message's visibility to the next step of the retry schedule (with
jitter, or later if the endpoint sent Retry-After) and reports it as a batch
item failure, so SQS itself holds the retry: no Lambda sleeps. After the last
step the job goes to the dead-letter queue and stays replayable.
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

from . import ssrf
from .errors import ConflictError, InvalidFieldError, NotFoundError
from .observability import count, logger
from .queue_jobs import (
    DELIVERY_JOB_FIELDS,
    JITTER,
    MAX_VISIBILITY,
    BatchMemo,
    PoisonMessage,
    dead_letter_poison,
    hold,
    parse_job,
)
from .settings import Settings
from .timefmt import format_ts, parse_ts, utcnow
from .webhook_delivery import Dialer, Outcome
from .webhook_store import WebhookStore
from .webhooks import EventSnapshot, WebhookEndpoint, sign, signing_secrets, standard_body, statuspage_body

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
else:
    SQSClient = Any

MAX_IN_FLIGHT = 32

# Claim = run at most once per delivery id; a stub runs the body directly.
Claim = Callable[[str, Callable[[], dict[str, Any]]], dict[str, Any]]


class GaveUp(Exception):
    """The delivery was not made and will not be retried (dead-lettered, or the
    endpoint answered 410). Raised through the claim so that Idempotency
    forgets it: a replay or a DLQ redrive of the same delivery id sends again,
    where a remembered result would answer "done" for a week."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class RetryLater(Exception):
    """The attempt failed; the message comes back after `delay` seconds."""

    def __init__(self, delay: int) -> None:
        super().__init__(f"retry in {delay} s")
        self.delay = delay


def next_delay(schedule: tuple[int, ...], attempt: int, retry_after: int | None, rng: random.Random) -> int | None:
    """Seconds until the next attempt after failed attempt `attempt` (1-based); None when exhausted."""
    if attempt > len(schedule):
        return None
    base = schedule[attempt - 1]
    delay = base * (1 + rng.uniform(-JITTER, JITTER))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return int(min(MAX_VISIBILITY, max(0, round(delay))))


def run_directly(_: str, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return body()


class WebhookSender:
    def __init__(self, webhooks: WebhookStore, settings: Settings, claim: Claim = run_directly,
                 sqs: SQSClient | None = None, dialer: Dialer | None = None,
                 resolve: ssrf.Resolver = ssrf.system_resolver, notify_staff: Callable[[str], None] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.webhooks = webhooks
        self.settings = settings
        self.claim = claim
        self._sqs = sqs
        self.dialer = dialer or Dialer(settings.webhook_timeout_seconds)
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

    def handle_batch(self, records: Sequence[Mapping[str, Any]], queue_url: str) -> dict[str, Any]:
        endpoints, events = BatchMemo(), BatchMemo()
        failures: list[dict[str, str]] = []

        def one(record: Mapping[str, Any]) -> None:
            try:
                self.handle_record(record, endpoints, events)
            except PoisonMessage as poison:
                if dead_letter_poison(self.sqs, self.settings.webhook_dlq_url, record, str(poison)):
                    count("PoisonMessages")
                else:
                    failures.append({"itemIdentifier": record["messageId"]})
            except RetryLater as retry:
                self._hold(queue_url, record, retry.delay)
                failures.append({"itemIdentifier": record["messageId"]})
                self._count_if_last_receive(record)
            except Exception:  # one bad job never sinks the batch
                logger.exception("delivery job failed", extra={"message_id": record.get("messageId")})
                count("WebhooksFailed")
                # Back soon, not after the queue's long visibility timeout.
                self._hold(queue_url, record, self.settings.webhook_retry_schedule[0])
                failures.append({"itemIdentifier": record["messageId"]})
                self._count_if_last_receive(record)

        with ThreadPoolExecutor(max_workers=max(1, min(MAX_IN_FLIGHT, len(records)))) as pool:
            list(pool.map(one, records))
        return {"batchItemFailures": failures}

    def _hold(self, queue_url: str, record: Mapping[str, Any], delay: int) -> None:
        hold(self.sqs, queue_url, record["receiptHandle"], delay)

    def _count_if_last_receive(self, record: Mapping[str, Any]) -> None:
        """A job that failed on its queue's last receive is moved to the dead-letter queue by SQS's redrive."""
        if int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")) >= self.settings.webhook_max_receives:
            count("WebhooksDeadLettered")

    def _endpoint(self, webhook_id: str) -> WebhookEndpoint | None:
        try:
            return self.webhooks.get(webhook_id)
        except NotFoundError:
            return None

    # --- one job -----------------------------------------------------------

    def handle_record(self, record: Mapping[str, Any], endpoints: BatchMemo | None = None,
                      events: BatchMemo | None = None) -> str:
        job = parse_job(record["body"], DELIVERY_JOB_FIELDS)
        attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        endpoint = (endpoints or BatchMemo()).get(job["subscriber_id"], lambda: self._endpoint(job["subscriber_id"]))
        event = (events or BatchMemo()).get(job["event_id"], lambda: self.webhooks.get_event(job["event_id"]))
        if endpoint is None or event is None:
            logger.info("dropped: endpoint or event gone", extra={"delivery_id": job["delivery_id"]})
            return "dropped"
        if not endpoint.wants(event.type, event.component_ids) and event.type != "webhook.test":
            return "skipped"
        if endpoint.status != "active":
            return "skipped"
        try:
            result = self.claim(job["delivery_id"], lambda: self._attempt(job, endpoint, event, attempt))
        except GaveUp as gave_up:
            return gave_up.outcome
        return str(result.get("outcome", "delivered"))

    def _attempt(self, job: Mapping[str, Any], endpoint: WebhookEndpoint, event: EventSnapshot,
                 attempt: int) -> dict[str, Any]:
        now = self.clock()
        now_text = format_ts(now)
        try:
            target = ssrf.check(endpoint.url, allow_http=self.settings.webhook_allow_http,
                                allow_loopback=self.settings.webhook_allow_loopback, resolve=self.resolve)
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
            return {"outcome": "delivered", "status": outcome.status}
        count("WebhooksFailed")
        if outcome.gone:
            self.webhooks.record_attempt(endpoint.id, job, entry, "gone", None, int(now.timestamp()))
            self.disable(endpoint.id, "the endpoint answered 410 Gone")
            raise GaveUp("gone")
        delay = next_delay(self.settings.webhook_retry_schedule, attempt, outcome.retry_after, self.rng)
        failing_since = self.webhooks.mark_failing(endpoint.id, now_text)
        if parse_ts(failing_since) <= now - timedelta(seconds=self.settings.webhook_disable_after_seconds):
            self.disable(endpoint.id, f"every delivery failed since {failing_since}")
        if delay is None:
            self.webhooks.record_attempt(endpoint.id, job, entry, "dead", None, int(now.timestamp()))
            self._dead_letter(job)
            count("WebhooksDeadLettered")
            raise GaveUp("dead")
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

