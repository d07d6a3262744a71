"""Jobs on our SQS queues: reading one, and what becomes of one that no
retry can ever handle (docs/operations.md, "Poison messages").

A message that is not a JSON object or lacks a field its consumer needs is
poison: retrying it only burns invocations until SQS's redrive gives up on it,
after up to `maxReceiveCount` x the visibility timeout (an hour on the plan
queue). Consumers move it to their dead-letter queue at once instead, with
the reason attached, and report it handled. Every other failure is retried.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from status_fanout.observability import logger

PLAN_JOB_FIELDS = ("event_id", "event_type", "occurred_at", "channel", "shard", "buckets")
DELIVERY_JOB_FIELDS = ("delivery_id", "event_id", "subscriber_id")
SUBSCRIBE_JOB_FIELDS = ("request_id",)
T = TypeVar("T")
R = TypeVar("R")


class PoisonMessage(Exception):
    """A queue message that no retry can ever handle."""


def parse_job(body: str, fields: Iterable[str]) -> dict[str, Any]:
    """The job in a message body, or PoisonMessage naming what is wrong with it."""
    try:
        job = json.loads(body)
    except ValueError as exc:
        raise PoisonMessage("the body is not JSON") from exc
    if not isinstance(job, dict):
        raise PoisonMessage("the body is not a JSON object")
    require_fields(job, fields)
    return job


def require_fields(job: Mapping[str, Any], fields: Iterable[str]) -> None:
    missing = [name for name in fields if job.get(name) in (None, "")]
    if missing:
        raise PoisonMessage(f"the job lacks {', '.join(missing)}")


def dead_letter_poison(sqs: Any, dlq_url: str, record: Mapping[str, Any], reason: str) -> bool:
    """Move a poison message to the dead-letter queue; False if it could not be
    (no queue configured, or SQS refused), so the caller reports it failed and
    SQS's own redrive takes over."""
    logger.error("poison message", extra={"message_id": record.get("messageId"), "reason": reason})
    if not dlq_url:
        return False
    try:
        sqs.send_message(QueueUrl=dlq_url, MessageBody=str(record.get("body", "")), MessageAttributes={
            "poison_reason": {"DataType": "String", "StringValue": reason[:256]},
            "source_message_id": {"DataType": "String", "StringValue": str(record.get("messageId", "?"))},
        })
    except (ClientError, BotoCoreError):
        logger.exception("could not dead-letter a poison message; SQS redrive will")
        return False
    return True


def first_per_key(jobs: list[tuple[R, dict[str, Any]]], key: Callable[[dict[str, Any]], str]
                  ) -> list[tuple[R, dict[str, Any]]]:
    """The first of the batch's jobs for each key (a delivery id).

    A batch can hold one delivery twice (a duplicate message, or one planned
    twice from a repeated stream record), and one transaction cannot claim an
    item twice. The copies are reported handled: the first carries the
    delivery, and if it fails, its own message brings it back."""
    seen: set[str] = set()
    first = []
    for record, job in jobs:
        if key(job) not in seen:
            seen.add(key(job))
            first.append((record, job))
    return first


def hold(sqs: Any, queue_url: str, receipt_handle: str, delay: int) -> None:
    """Bring a failed job back after `delay` s rather than the queue's visibility timeout."""
    try:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay)
    except (ClientError, BotoCoreError):
        logger.exception("could not set the retry delay; the queue's visibility timeout applies")


class BatchMemo:
    """What the jobs of one batch share (an event snapshot, an endpoint),
    loaded once even when the batch's worker threads all ask at the same
    moment, as they do when a batch starts; a failed load is retried by the
    next job that asks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loads: dict[str, Future[Any]] = {}

    def get(self, key: str, load: Callable[[], T]) -> T:
        with self._lock:
            future = self._loads.get(key)
            loading = future is None
            if future is None:
                future = self._loads[key] = Future()
        if loading:
            try:
                future.set_result(load())
            except BaseException as exc:
                with self._lock:
                    del self._loads[key]
                future.set_exception(exc)
        result: T = future.result()
        return result


SQS_BATCH = 10


def enqueue(sqs: Any, queue_url: str, bodies: list[dict[str, Any]], delay: int = 0) -> int:
    """Jobs onto a queue, SendMessageBatch in tens; entries SQS refused are retried, then raise."""
    for offset in range(0, len(bodies), SQS_BATCH):
        chunk = bodies[offset:offset + SQS_BATCH]
        entries = [{"Id": str(i), "MessageBody": json.dumps(body, separators=(",", ":")), "DelaySeconds": delay}
                   for i, body in enumerate(chunk)]
        for _ in range(3):
            failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed", [])
            if not failed:
                break
            retry = {f["Id"] for f in failed if not f.get("SenderFault")}
            if len(retry) < len(failed):
                raise RuntimeError(f"SQS refused jobs: {failed}")
            entries = [e for e in entries if e["Id"] in retry]
        else:
            raise RuntimeError(f"SQS kept failing {len(entries)} jobs")
    return len(bodies)
