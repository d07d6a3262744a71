"""Email as a channel of the delivery engine: SES v2 SendEmail with raw MIME.

Two kinds of job arrive on the email queue:
- delivery jobs from the fan-out planner (`delivery_id`, `event_id`,
  `subscriber_id`): the engine re-reads the subscriber (confirmed? still
  wants the event's components?) whatever the index said when the job was
  planned; the channel builds the MIME message and sends it;
- subscribe jobs from `POST /v1/subscriptions` (`kind: subscribe`): apply the
  request and send the confirmation mail if one is due.

A mail's claim is its own `MAIL#` item (delivery.claims: a mail sent is never
sent again).

Rate: every send takes a token from a per-container bucket filled at
(account MaxSendRate ÷ the SQS event's MaximumConcurrency) per second, so
all containers together stay within the account's SES rate. A throttled send
(`ThrottlingException`, `TooManyRequestsException`, `LimitExceededException`,
...) is never dropped: it comes back after an exponential backoff (SQS holds
it); SQS's redrive dead-letters a job after `settings.email.max_receives`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from status_fanout.clients import aws_client
from status_fanout.delivery.claims import ClaimRequest, outcome_item
from status_fanout.delivery.engine import DELIVERED, NOTHING, Answer, Delivery
from status_fanout.delivery.events import EventSnapshot
from status_fanout.delivery.jobs import DELIVERY_JOB_FIELDS, SUBSCRIBE_JOB_FIELDS, BatchMemo
from status_fanout.delivery.retry import RetryLater, backoff
from status_fanout.email import messages as email_messages
from status_fanout.email.store import Subscriber
from status_fanout.email.subscriptions import SubscriptionService
from status_fanout.incidents.store import IncidentStore
from status_fanout.observability import count, logger
from status_fanout.settings import Settings
from status_fanout.timefmt import utcnow

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


class EmailChannel:
    name = "Emails"
    done_status = "sent"
    ses = aws_client("sesv2", SES_CONFIG)

    def __init__(self, store: IncidentStore, settings: Settings, ses: Any = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.email = settings.email
        self.subscriptions = SubscriptionService(store, settings, clock=clock)
        self._ses = ses
        self.clock = clock
        self.max_in_flight = MAX_IN_FLIGHT
        self.dlq_url = settings.email.dlq_url
        self.max_receives = settings.email.max_receives
        self.retry_base = settings.email.retry_base_seconds
        self.rng = random.Random()
        self._bucket: TokenBucket | None = None
        self._bucket_lock = threading.Lock()

    def account_send_rate(self) -> float:
        """SES's MaxSendRate for the account (GetAccount), or the configured fallback."""
        try:
            quota = self.ses.get_account().get("SendQuota") or {}
            rate = float(quota.get("MaxSendRate") or 0)
            if rate > 0:
                return rate
        except (ClientError, BotoCoreError, KeyError, ValueError, NotImplementedError):
            logger.info("GetAccount unavailable; using EMAIL_MAX_SEND_RATE")
        return self.email.max_send_rate

    @property
    def bucket(self) -> TokenBucket:
        """Read the send rate once per container (cold start), split across MaximumConcurrency containers."""
        with self._bucket_lock:
            if self._bucket is None:
                rate = self.account_send_rate() / self.email.sender_concurrency
                self._bucket = TokenBucket(rate)
                logger.info("send rate per container", extra={"rate": rate})
            return self._bucket

    # --- what the engine asks of a channel ------------------------------------------

    def job_fields(self, job: Mapping[str, Any]) -> Iterable[str]:
        return SUBSCRIBE_JOB_FIELDS if job.get("kind") == "subscribe" else DELIVERY_JOB_FIELDS

    def claim_request(self, job: Mapping[str, Any]) -> ClaimRequest:
        return self.subscriptions.subscribers.mail_claim(mail_id(job), int(self.clock().timestamp()))

    def recipients(self, ids: list[str]) -> Mapping[str, Subscriber]:
        return self.subscriptions.subscribers.get_many(ids)

    def wants(self, recipient: Subscriber, event: EventSnapshot) -> bool:
        if recipient.state != "confirmed":
            # Unsubscribed, suppressed or never confirmed: never mailed.
            if recipient.state == "suppressed":
                count("EmailsSuppressed")
            return False
        return event.type != "webhook.test" and recipient.wants(event.component_ids)

    def retry_delay(self, attempt: int, retry_after: int | None, rng: random.Random) -> int | None:
        return backoff(self.retry_base, attempt, rng)

    def prepare(self) -> None:
        self.bucket  # noqa: B018 - read the send rate before the workers start

    def send(self, delivery: Delivery, memo: BatchMemo) -> Answer:
        if delivery.event is None:
            return self._subscribe(delivery)
        subscriber, event, job = delivery.recipient, delivery.event, delivery.job
        service = self.subscriptions
        subscribed_to = self._component_names(subscriber.components, event)
        # Each event's mail is rendered once a batch for each choice of components;
        # only the links and the headers are the subscriber's own.
        rendered = memo.get(f"mail:{event.id}:{chr(0).join(subscribed_to)}",
                            lambda: email_messages.render_update(self.settings, event, subscribed_to))
        raw = email_messages.update_message(
            self.settings, event, to=subscriber.email, subscriber_id=subscriber.id,
            message_id=f"<{job['delivery_id']}@{email_messages.domain_of(self.email.sender_address)}>",
            unsubscribe_url=service.link("unsubscribe", service.token("unsubscribe", subscriber)),
            manage_url=service.link("manage", service.token("manage", subscriber)),
            subscribed_to=subscribed_to, now=self.clock(), rendered=rendered)
        self._send(subscriber, raw, delivery.attempt, kind="update")
        return Answer(DELIVERED)

    def record(self, delivery: Delivery, status: str, answer: Answer, next_retry_at: str | None) -> dict[str, Any]:
        return outcome_item(delivery.held, status)

    # --- the mails --------------------------------------------------------------------

    def _subscribe(self, delivery: Delivery) -> Answer:
        subscriber = self.subscriptions.process_subscribe(delivery.job)
        if subscriber is None:
            return Answer(NOTHING)
        service = self.subscriptions
        raw = email_messages.confirm_message(
            self.settings, to=subscriber.email,
            message_id=f"<confirm.{delivery.job['request_id']}@{email_messages.domain_of(self.email.sender_address)}>",
            confirm_url=service.link("confirm", service.token("confirm", subscriber)),
            subscribed_to=self._component_names(subscriber.components, None), now=self.clock())
        self._send(subscriber, raw, delivery.attempt, kind="confirm")
        return Answer(DELIVERED)

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
        """SendEmail, paced by the bucket; a throttle raises RetryLater (the job comes back)."""
        self.bucket.take()
        request: dict[str, Any] = {
            "FromEmailAddress": self.email.sender_address,
            "Destination": {"ToAddresses": [subscriber.email]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": "subscriber", "Value": subscriber.id}, {"Name": "kind", "Value": kind}],
        }
        if self.email.configuration_set:
            request["ConfigurationSetName"] = self.email.configuration_set
        try:
            reply = self.ses.send_email(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in THROTTLES or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429:
                delay = backoff(self.retry_base, attempt, self.rng)
                logger.warning("SES throttled; retrying later", extra={"code": code, "delay": delay})
                count("EmailsThrottled")
                raise RetryLater(delay) from exc
            raise
        return str(reply.get("MessageId", ""))
