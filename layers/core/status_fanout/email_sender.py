"""The email sender: one SQS batch of email jobs, several sends in flight.

Two kinds of job arrive on the email queue:
- delivery jobs from the fan-out planner (`delivery_id`, `event_id`,
  `subscriber_id`): re-check the subscriber (confirmed? still wants the
  event's components?) whatever the index said when the job was planned,
  build the MIME message and `SendEmail` it with `Content.Raw`;
- subscribe jobs from `POST /v1/subscriptions` (`kind: subscribe`): apply the
  request and send the confirmation mail if one is due.

Per batch, not per mail: one BatchGetItem reads the batch's subscribers and
one transaction claims all its mails (delivery_claims: a mail sent is never
sent again); each mail then costs one SendEmail and one write ending its claim.

Rate: every send takes a token from a per-container bucket filled at
(account MaxSendRate ÷ the SQS event's MaximumConcurrency) per second, so
all containers together stay within the account's SES rate. A throttled send
(`ThrottlingException`, `TooManyRequestsException`, `LimitExceededException`,
...) is never dropped: the message's visibility is set to an exponential
backoff and it is reported as a batch item failure; SQS brings it back.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import email_messages
from .delivery_claims import BUSY, CLAIMED
from .email_store import Subscriber
from .email_subscriptions import SubscriptionService
from .observability import count, logger
from .queue_jobs import (
    DELIVERY_JOB_FIELDS,
    SUBSCRIBE_JOB_FIELDS,
    PoisonMessage,
    backoff,
    dead_letter_poison,
    first_per_key,
    hold,
    parse_job,
    require_fields,
)
from .settings import Settings
from .store import Store
from .timefmt import utcnow
from .webhook_sender import DEFAULT_LEASE_SECONDS, RetryLater, busy_delay
from .webhook_store import WebhookStore
from .webhooks import EventSnapshot

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient
else:
    SESV2Client = Any
    SQSClient = Any

THROTTLES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "LimitExceededException",
                       "SendingQuotaExceeded", "MaxSendRateExceeded", "RequestLimitExceeded"})
MAX_IN_FLIGHT = 16
# One SDK attempt: a throttle goes back to SQS with our backoff instead of
# sleeping in the SDK while holding a thread and a send-rate token.
SES_CONFIG = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=20)


class TokenBucket:
    """`rate` sends per second on average, bursts of at most `capacity`; thread-safe, blocking."""

    def __init__(self, rate: float, capacity: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity if capacity is not None else rate)
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            self.sleep(wait)


def mail_id(job: Mapping[str, Any]) -> str:
    """What a mail is claimed by: its delivery id, or its subscribe request's."""
    return f"subscribe:{job['request_id']}" if job.get("kind") == "subscribe" else str(job["delivery_id"])


class EmailSender:
    def __init__(self, store: Store, settings: Settings, ses: SESV2Client | None = None,
                 sqs: SQSClient | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.subscriptions = SubscriptionService(store, settings, clock=clock)
        self.events = WebhookStore(store, settings.fanout_shards)
        self._ses = ses
        self._sqs = sqs
        self.clock = clock
        self.rng = random.Random()
        self._bucket: TokenBucket | None = None
        self._bucket_lock = threading.Lock()

    @property
    def ses(self) -> SESV2Client:
        if self._ses is None:
            self._ses = boto3.client("sesv2", config=SES_CONFIG)
        return self._ses

    @property
    def sqs(self) -> SQSClient:
        if self._sqs is None:
            self._sqs = boto3.client("sqs")
        return self._sqs

    def account_send_rate(self) -> float:
        """SES's MaxSendRate for the account (GetAccount), or the configured fallback."""
        try:
            quota = self.ses.get_account().get("SendQuota") or {}
            rate = float(quota.get("MaxSendRate") or 0)
            if rate > 0:
                return rate
        except (ClientError, BotoCoreError, KeyError, ValueError, NotImplementedError):
            logger.info("GetAccount unavailable; using EMAIL_MAX_SEND_RATE")
        return self.settings.email_max_send_rate

    @property
    def bucket(self) -> TokenBucket:
        """Read the send rate once per container (cold start), split across MaximumConcurrency containers."""
        with self._bucket_lock:
            if self._bucket is None:
                rate = self.account_send_rate() / self.settings.email_sender_concurrency
                self._bucket = TokenBucket(rate)
                logger.info("send rate per container", extra={"rate": rate})
            return self._bucket

    # --- the batch ------------------------------------------------------------

    def handle_batch(self, records: list[Mapping[str, Any]], queue_url: str,
                     lease_seconds: int = DEFAULT_LEASE_SECONDS) -> dict[str, Any]:
        failures: list[dict[str, str]] = []

        def failed(record: Mapping[str, Any], delay: int) -> None:
            hold(self.sqs, queue_url, record["receiptHandle"], delay)
            failures.append({"itemIdentifier": record["messageId"]})
            self._count_if_last_receive(record)

        jobs: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
        for record in records:
            try:
                job = parse_job(record["body"], ())
                require_fields(job, SUBSCRIBE_JOB_FIELDS if job.get("kind") == "subscribe" else DELIVERY_JOB_FIELDS)
                jobs.append((record, job))
            except PoisonMessage as poison:
                if dead_letter_poison(self.sqs, self.settings.email_dlq_url, record, str(poison)):
                    count("PoisonMessages")
                else:
                    failures.append({"itemIdentifier": record["messageId"]})
        jobs = first_per_key(jobs, mail_id)
        store = self.subscriptions.subscribers
        try:
            due = self._due(jobs)
            now = int(self.clock().timestamp())
            claims = store.claim_mails([mail_id(job) for _, job, _, _ in due], now, now + lease_seconds)
        except Exception:  # the store failed: every job of the batch comes back soon
            logger.exception("could not claim the batch's mails")
            for record, _ in jobs:
                count("EmailsFailed")
                failed(record, backoff(self.settings.email_retry_base_seconds, 1, self.rng))
            return {"batchItemFailures": failures}

        def one(item: tuple[Mapping[str, Any], dict[str, Any], Subscriber | None, EventSnapshot | None]) -> None:
            record, job, subscriber, event = item
            claim = claims.get(mail_id(job))
            attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
            try:
                if claim == BUSY:  # another attempt holds it: see how it ended
                    raise RetryLater(busy_delay(self.settings.email_retry_base_seconds, attempt, lease_seconds,
                                                self.rng))
                if claim != CLAIMED:
                    return
                try:
                    if subscriber is None or event is None:
                        self._subscribe(job, attempt)
                    else:
                        self._deliver(job, subscriber, event, attempt)
                except Exception:
                    self._finish(job, "failed")
                    raise
                store.finish_mail(mail_id(job), "sent")
            except RetryLater as retry:
                failed(record, retry.delay)
            except Exception:  # one bad job never sinks the batch
                logger.exception("email job failed", extra={"message_id": record.get("messageId")})
                count("EmailsFailed")
                failed(record, backoff(self.settings.email_retry_base_seconds, 1, self.rng))

        self.bucket  # noqa: B018 - read the send rate before the threads start
        with ThreadPoolExecutor(max_workers=max(1, min(MAX_IN_FLIGHT, len(due)))) as pool:
            list(pool.map(one, due))
        return {"batchItemFailures": failures}

    def _due(self, jobs: list[tuple[Mapping[str, Any], dict[str, Any]]]
             ) -> list[tuple[Mapping[str, Any], dict[str, Any], Subscriber | None, EventSnapshot | None]]:
        """The jobs to carry out: every subscribe job, and each delivery whose
        subscriber is confirmed and still wants the event (read now, whatever
        the index said when the job was planned), with both."""
        deliveries = [(record, job) for record, job in jobs if job.get("kind") != "subscribe"]
        subscribers = self.subscriptions.subscribers.get_many(list({job["subscriber_id"] for _, job in deliveries}))
        events = {event_id: self.events.get_event(event_id) for event_id in {job["event_id"] for _, job in deliveries}}
        due: list[tuple[Mapping[str, Any], dict[str, Any], Subscriber | None, EventSnapshot | None]] = [
            (record, job, None, None) for record, job in jobs if job.get("kind") == "subscribe"]
        for record, job in deliveries:
            subscriber, event = subscribers.get(job["subscriber_id"]), events[job["event_id"]]
            if subscriber is None or subscriber.state != "confirmed":
                # Unsubscribed, suppressed, deleted or never confirmed: never mailed.
                if subscriber is not None and subscriber.state == "suppressed":
                    count("EmailsSuppressed")
            elif event is None:
                logger.info("dropped: event gone", extra={"delivery_id": job["delivery_id"]})
            elif event.type != "webhook.test" and subscriber.wants(event.component_ids):
                due.append((record, job, subscriber, event))
        return due

    def _finish(self, job: Mapping[str, Any], status: str) -> None:
        try:
            self.subscriptions.subscribers.finish_mail(mail_id(job), status)
        except Exception:  # its lease runs out instead
            logger.exception("could not end a mail's claim", extra={"mail_id": mail_id(job)})

    def _count_if_last_receive(self, record: Mapping[str, Any]) -> None:
        """A job that failed on its queue's last receive is moved to the dead-letter queue by SQS's redrive."""
        if int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")) >= self.settings.email_max_receives:
            count("EmailsDeadLettered")

    # --- one job ----------------------------------------------------------------

    def _deliver(self, job: Mapping[str, Any], subscriber: Subscriber, event: EventSnapshot,
                 attempt: int) -> None:
        service = self.subscriptions
        sender = self.settings.sender_address
        raw = email_messages.update_message(
            self.settings, event, to=subscriber.email, subscriber_id=subscriber.id,
            message_id=f"<{job['delivery_id']}@{email_messages.domain_of(sender)}>",
            unsubscribe_url=service.link("unsubscribe", service.token("unsubscribe", subscriber)),
            manage_url=service.link("manage", service.token("manage", subscriber)),
            subscribed_to=self._component_names(subscriber.components, event), now=self.clock())
        self._send(subscriber, raw, attempt, kind="update")

    def _subscribe(self, job: Mapping[str, Any], attempt: int) -> None:
        subscriber = self.subscriptions.process_subscribe(job)
        if subscriber is None:
            return
        service = self.subscriptions
        raw = email_messages.confirm_message(
            self.settings, to=subscriber.email,
            message_id=f"<confirm.{job['request_id']}@{email_messages.domain_of(self.settings.sender_address)}>",
            confirm_url=service.link("confirm", service.token("confirm", subscriber)),
            subscribed_to=self._component_names(subscriber.components, None), now=self.clock())
        self._send(subscriber, raw, attempt, kind="confirm")

    def _component_names(self, ids: list[str], event: EventSnapshot | None) -> list[str]:
        if not ids:
            return []
        known = {str(c.get("id")): str(c.get("name")) for c in ((event.incident or {}).get("components") or [])
                 } if event else {}
        if event and event.component:
            known[str(event.component.get("id"))] = str(event.component.get("name"))
        if not all(i in known for i in ids):
            known.update({c.id: c.name for c in self.subscriptions.store.list_components()})
        return [known.get(i, i) for i in ids]

    def _send(self, subscriber: Subscriber, raw: bytes, attempt: int, kind: str) -> str:
        self.bucket.take()
        request: dict[str, Any] = {
            "FromEmailAddress": self.settings.sender_address,
            "Destination": {"ToAddresses": [subscriber.email]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": "subscriber", "Value": subscriber.id}, {"Name": "kind", "Value": kind}],
        }
        if self.settings.email_configuration_set:
            request["ConfigurationSetName"] = self.settings.email_configuration_set
        try:
            reply = self.ses.send_email(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in THROTTLES or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429:
                delay = backoff(self.settings.email_retry_base_seconds, attempt, self.rng)
                logger.warning("SES throttled; retrying later", extra={"code": code, "delay": delay})
                count("EmailsThrottled")
                raise RetryLater(delay) from exc
            raise
        count("EmailsSent")
        return str(reply.get("MessageId", ""))
