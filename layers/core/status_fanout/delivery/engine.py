"""The delivery engine: one SQS batch of one channel's jobs, many in flight at once.

The engine does what every channel needs; a channel (webhooks.channel,
email.channel) says only what to send to one recipient, how to send it and
what the answer means.

Per batch: parse each job (a poison message goes to the dead-letter queue at
once), keep the first job of each delivery, read the batch's recipients (one
BatchGetItem, the channel's) and events (immutable snapshots, cached per
container), drop the deliveries nobody wants any more, and claim the rest in
one transaction (delivery.claims: a delivery made is never made again).

Per delivery: the channel sends and answers with an `Answer`; the channel
turns the outcome into the delivery's item, which the batch's group commit
stores with other workers' outcomes (delivery.commits: BatchWriteItem, the
worker waiting until its outcome is durable before its next job); that write
ends the claim. A failed retry sets the message's visibility to the retry
delay, so SQS itself holds the retry and no Lambda sleeps; a recipient that
throttles (429) is retried when its Retry-After says. After a channel's last
retry, or at once when the recipient refused the delivery for good (a chat
app's 400: REJECTED), the job goes to its dead-letter queue, where replay and
redrive find it. A job whose delivery another attempt
holds comes back soon; one that raised comes back after the channel's first
retry delay with its claim released.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from status_fanout.clients import aws_client
from status_fanout.delivery.claims import BUSY, CLAIMED, ClaimRequest, Claims
from status_fanout.delivery.commits import GroupCommit
from status_fanout.delivery.events import EventSnapshot, EventStore
from status_fanout.delivery.jobs import (
    BatchMemo,
    PoisonMessage,
    dead_letter_poison,
    first_per_key,
    hold,
    parse_job,
    require_fields,
)
from status_fanout.delivery.retry import DEFAULT_LEASE_SECONDS, RetryLater, backoff, bounded, busy_delay
from status_fanout.dynamo import Store
from status_fanout.observability import count, logger
from status_fanout.timefmt import format_ts, utcnow

# What one send came to.
DELIVERED = "delivered"  # the recipient has it
NOTHING = "nothing"      # there was nothing to send (the claim ends done, nothing is counted)
FAILED = "failed"        # not accepted: retry on the channel's schedule
GONE = "gone"            # the recipient is gone for good: no retry
REJECTED = "rejected"    # refused as malformed: it would be refused again, so dead-lettered at once


@dataclass
class Delivery:
    """One job of the batch, with what it is for."""

    record: Mapping[str, Any]
    job: dict[str, Any]
    claim: ClaimRequest
    recipient: Any = None
    event: EventSnapshot | None = None
    # The delivery's item as its claim left it: the outcome's Put starts from it.
    held: dict[str, Any] = field(default_factory=dict)

    @property
    def attempt(self) -> int:
        """This job's receive count: 1 on its first attempt."""
        return int(self.record.get("attributes", {}).get("ApproximateReceiveCount", "1"))


@dataclass(frozen=True)
class Answer:
    outcome: str
    # The channel's own account of the attempt (webhooks: the delivery-log entry).
    detail: Any = None
    # The recipient's Retry-After, in seconds.
    retry_after: int | None = None
    # The recipient said it is rate limited (HTTP 429): its Retry-After is
    # its instruction, so the retry comes then, not at the schedule's next step.
    throttled: bool = False


class Channel(Protocol):
    name: str            # metric prefix: "Webhooks" counts WebhooksSent, WebhooksFailed, ...
    done_status: str     # the claim's status once delivered
    max_in_flight: int
    dlq_url: str
    max_receives: int    # the queue's maxReceiveCount
    retry_base: int      # seconds: how soon a job comes back that broke off or found its delivery held

    def job_fields(self, job: Mapping[str, Any]) -> Iterable[str]: ...
    def claim_request(self, job: Mapping[str, Any]) -> ClaimRequest: ...
    def recipients(self, ids: list[str]) -> Mapping[str, Any]: ...
    def wants(self, recipient: Any, event: EventSnapshot) -> bool: ...
    def retry_delay(self, attempt: int, retry_after: int | None, rng: random.Random) -> int | None: ...
    def prepare(self) -> None: ...
    def send(self, delivery: Delivery, memo: BatchMemo) -> Answer: ...
    def record(self, delivery: Delivery, status: str, answer: Answer,
               next_retry_at: str | None) -> dict[str, Any]: ...


class DeliveryEngine:
    sqs = aws_client("sqs")

    def __init__(self, channel: Channel, db: Store, *, sqs: Any = None, events: EventStore | None = None,
                 claims: Claims | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.channel = channel
        self.db = db
        self.events = events or EventStore(db)
        self.claims = claims or Claims(db)
        self._sqs = sqs
        self.clock = clock
        self.rng = random.Random()

    def handle_batch(self, records: Sequence[Mapping[str, Any]], queue_url: str,
                     lease_seconds: int = DEFAULT_LEASE_SECONDS) -> dict[str, Any]:
        channel = self.channel
        failures: list[dict[str, str]] = []

        def failed(record: Mapping[str, Any], delay: int) -> None:
            hold(self.sqs, queue_url, record["receiptHandle"], delay)
            failures.append({"itemIdentifier": record["messageId"]})
            if int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")) >= channel.max_receives:
                count(f"{channel.name}DeadLettered")  # SQS's redrive moves it now

        jobs = self._parse(records, failures)
        try:
            due = self._due(jobs)
            now = int(self.clock().timestamp())
            claims = self.claims.claim_all([d.claim for d in due], channel.done_status, now, now + lease_seconds)
        except Exception:  # the store failed: every job of the batch comes back soon
            logger.exception("could not claim the batch's deliveries", extra={"channel": channel.name})
            for record, _ in jobs:
                count(f"{channel.name}Failed")
                failed(record, backoff(channel.retry_base, 1, self.rng))
            return {"batchItemFailures": failures}

        memo = BatchMemo()

        def one(delivery: Delivery) -> None:
            claim = claims.get(delivery.claim.delivery_id)
            if claim == BUSY:  # another attempt holds it: see how that one ended, soon
                failed(delivery.record, busy_delay(channel.retry_base, delivery.attempt, lease_seconds, self.rng))
            elif claim == CLAIMED:
                delivery.held = claims.held[delivery.claim.delivery_id]
                with commits.working():
                    delay = self._attempt(delivery, memo, commits)
                if delay is not None:
                    failed(delivery.record, delay)

        channel.prepare()
        with GroupCommit(self.db) as commits, \
                ThreadPoolExecutor(max_workers=max(1, min(channel.max_in_flight, len(due)))) as pool:
            list(pool.map(one, due))
        return {"batchItemFailures": failures}

    def _parse(self, records: Sequence[Mapping[str, Any]], failures: list[dict[str, str]]
               ) -> list[tuple[Mapping[str, Any], dict[str, Any]]]:
        """The batch's jobs, the first of each delivery only. A batch can hold one
        delivery twice, and one transaction cannot claim an item twice; the copy
        is acknowledged, and if the first fails its own message brings it back."""
        jobs = []
        for record in records:
            try:
                job = parse_job(record["body"], ())
                require_fields(job, self.channel.job_fields(job))
                jobs.append((record, job))
            except PoisonMessage as poison:
                if dead_letter_poison(self.sqs, self.channel.dlq_url, record, str(poison)):
                    count("PoisonMessages")
                else:
                    failures.append({"itemIdentifier": record["messageId"]})
        return first_per_key(jobs, lambda job: self.channel.claim_request(job).delivery_id)

    def _due(self, jobs: list[tuple[Mapping[str, Any], dict[str, Any]]]) -> list[Delivery]:
        """The deliveries to attempt: not those whose recipient or event is gone,
        or whose recipient no longer wants the event (read now, whatever the index
        said when the job was planned). A job that names no subscriber is the
        channel's own kind (email's subscribe requests) and always due."""
        deliveries = [job for _, job in jobs if "subscriber_id" in job]
        recipients = self.channel.recipients(list({job["subscriber_id"] for job in deliveries}))
        events = {event_id: self.events.get(event_id) for event_id in {job["event_id"] for job in deliveries}}
        due = []
        for record, job in jobs:
            delivery = Delivery(record, job, self.channel.claim_request(job))
            if "subscriber_id" in job:
                delivery.recipient, delivery.event = recipients.get(job["subscriber_id"]), events[job["event_id"]]
                if delivery.event is None:
                    logger.info("dropped: event gone", extra={"delivery_id": delivery.claim.delivery_id})
                    continue
                if delivery.recipient is None or not self.channel.wants(delivery.recipient, delivery.event):
                    continue
            due.append(delivery)
        return due

    def _attempt(self, delivery: Delivery, memo: BatchMemo, commits: GroupCommit) -> int | None:
        """One claimed attempt; returns the delay before the job comes back, or None when it is done.
        Its outcome is durable before it returns; if it could not be stored, the job comes back."""
        name = self.channel.name
        try:
            answer = self.channel.send(delivery, memo)
            return self._settle(delivery, answer, commits)
        except RetryLater as later:  # not sent (the provider throttled): the claim is let go
            self._release(delivery)
            return later.delay
        except Exception:  # one bad job never sinks the batch
            logger.exception("delivery failed", extra={"channel": name, "message_id": delivery.record.get("messageId")})
            count(f"{name}Failed")
            self._release(delivery)
            # Back soon, not after the queue's long visibility timeout.
            return backoff(self.channel.retry_base, 1, self.rng)

    def _settle(self, delivery: Delivery, answer: Answer, commits: GroupCommit) -> int | None:
        channel, name = self.channel, self.channel.name

        def record(status: str, next_retry_at: str | None = None) -> None:
            commits.write(channel.record(delivery, status, answer, next_retry_at))

        if answer.outcome in (DELIVERED, NOTHING):
            record(channel.done_status)
            if answer.outcome == DELIVERED:
                count(f"{name}Sent")
            return None
        if answer.outcome == GONE:
            record(GONE)
            count(f"{name}Failed")
            return None
        if answer.outcome == REJECTED:
            delay = None
        elif answer.throttled and answer.retry_after is not None and delivery.attempt < channel.max_receives:
            delay = bounded(answer.retry_after)
        else:
            delay = channel.retry_delay(delivery.attempt, answer.retry_after, self.rng)
        if delay is None:  # the last scheduled attempt, or refused for good: park it where replay and redrive find it
            record("dead")
            if channel.dlq_url:
                self.sqs.send_message(QueueUrl=channel.dlq_url, MessageBody=json.dumps(delivery.job))
            count(f"{name}Failed")
            count(f"{name}DeadLettered")
            return None
        record(FAILED, format_ts(self.clock() + timedelta(seconds=delay)))
        count(f"{name}Failed")
        return delay

    def _release(self, delivery: Delivery) -> None:
        try:
            self.claims.release(delivery.claim)
        except Exception:  # its lease runs out instead
            logger.exception("could not release a delivery's claim", extra={"delivery_id": delivery.claim.delivery_id})
