"""Event source mappings: DynamoDB stream and SQS pollers that invoke the runtime
with the event shapes and failure semantics Lambda uses."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from . import filters
from .runtime import Runtime
from .template import REGION, DynamoDBEvent, SqsEvent

logger = logging.getLogger("status_fanout_local.pollers")

IDLE_POLL_SECONDS = 0.05
# A stream mapping reads its shards this often when nothing wakes it, as
# Lambda does (four times a second); the emulator wakes it at once when a
# write adds stream records (emulator.StreamActivity).
STREAM_POLL_SECONDS = 0.25
# Lambda may wait up to 300 s to fill a batch (the template asks for 1 s);
# locally a long window only slows feedback, so it is capped while batching
# still happens: a burst of writes or of delivery jobs still comes in batches.
MAX_LOCAL_BATCHING_WINDOW = 0.1
SHARD_REFRESH_SECONDS = 5.0
SQS_WAIT_SECONDS = 1  # long poll, short enough for a prompt stop()
DEFAULT_SQS_CONCURRENCY = 2

ClientFactory = Callable[[str], Any]


class Activity(Protocol):
    """Something that counts writes to the streams and can be waited on."""

    generation: int

    def wait(self, seen: int, timeout: float) -> None: ...


def _jsonable(value: Any) -> Any:
    """boto3 decodes B/BS attribute values to bytes; Lambda's JSON carries base64."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ------------------------------------------------------------------ DynamoDB


def stream_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A DynamoDB Streams record as Lambda delivers it."""
    ddb = raw.get("dynamodb") or {}
    created = ddb.get("ApproximateCreationDateTime")
    record: dict[str, Any] = {
        "eventID": raw.get("eventID") or uuid.uuid4().hex,
        "eventName": raw["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion") or REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": (
                created.timestamp() if isinstance(created, datetime) else float(created or time.time())
            ),
            "Keys": _jsonable(ddb.get("Keys") or {}),
            "SequenceNumber": ddb["SequenceNumber"],
            "SizeBytes": ddb.get("SizeBytes", 0),
            "StreamViewType": ddb.get("StreamViewType"),
        },
        "eventSourceARN": stream_arn,
    }
    for image in ("NewImage", "OldImage"):
        if image in ddb:
            record["dynamodb"][image] = _jsonable(ddb[image])
    if "userIdentity" in raw:  # TTL deletions
        record["userIdentity"] = raw["userIdentity"]
    return record


@dataclass
class _Shard:
    shard_id: str
    iterator: str | None
    buffer: list[dict[str, Any]] = field(default_factory=list)
    buffered_since: float | None = None


class StreamPoller:
    """One DynamoDB event source mapping: reads every shard in order."""

    def __init__(
        self,
        runtime: Runtime,
        function: str,
        event: DynamoDBEvent,
        client: ClientFactory,
        activity: Activity | None = None,
    ) -> None:
        self.runtime = runtime
        self.function = function
        self.event = event
        self._client = client
        self._activity = activity
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ddb-{function}-{event.name}", daemon=True)
        self._shards: dict[str, _Shard] = {}
        # Monotonic start of the latest read round that found nothing to do,
        # or None while records are pending; wait_idle compares it to its start.
        self.caught_up_at: float | None = None
        self.window = min(event.maximum_batching_window, MAX_LOCAL_BATCHING_WINDOW)

    @property
    def description(self) -> str:
        return f"{self.function}/{self.event.name}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        streams = self._client("dynamodbstreams")
        sqs = self._client("sqs")
        last_refresh = 0.0
        while not self._stop.is_set():
            # Before the round: a write while it reads is not slept through.
            seen, started = (self._activity.generation if self._activity else 0), time.monotonic()
            try:
                if time.monotonic() - last_refresh > SHARD_REFRESH_SECONDS:
                    self._refresh_shards(streams)
                    last_refresh = time.monotonic()
                busy = self._round(streams, sqs)
            except Exception:
                logger.exception("stream poller %s failed; retrying", self.description)
                busy = False
                self._stop.wait(1.0)
            if not busy:
                self._idle(seen, started)

    def _idle(self, seen: int, started: float) -> None:
        """Sleep until a write, the end of a buffered batch's window, or the next poll;
        never read again sooner than IDLE_POLL_SECONDS after the last round began
        (every write to the table wakes the pollers)."""
        due = [shard.buffered_since + self.window - time.monotonic()
               for shard in self._shards.values() if shard.buffer and shard.buffered_since is not None]
        if self._activity is None:
            self._stop.wait(min([IDLE_POLL_SECONDS, *due]))
            return
        self._activity.wait(seen, min([STREAM_POLL_SECONDS, *due]))
        self._stop.wait(min([IDLE_POLL_SECONDS - (time.monotonic() - started), *due]))

    def _refresh_shards(self, streams: Any) -> None:
        description = streams.describe_stream(StreamArn=self.event.stream)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id in self._shards:
                continue
            # Always from the oldest record: a fresh local stack has no
            # checkpoint, and records written before start must be seen.
            iterator = streams.get_shard_iterator(
                StreamArn=self.event.stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            self._shards[shard_id] = _Shard(shard_id, iterator)

    def _round(self, streams: Any, sqs: Any) -> bool:
        """Read each shard once and deliver ready batches; True if anything happened."""
        started = time.monotonic()
        fetched = delivered = False
        for shard in list(self._shards.values()):
            if len(shard.buffer) < self.event.batch_size and shard.iterator:
                response = streams.get_records(
                    ShardIterator=shard.iterator, Limit=min(1000, self.event.batch_size - len(shard.buffer))
                )
                shard.iterator = response.get("NextShardIterator")
                records = response.get("Records") or []
                if records:
                    fetched = True
                    converted = (stream_record(r, self.event.stream) for r in records)
                    kept = [r for r in converted if filters.keep(r, self.event.filters)]
                    if kept:
                        # Only records the filters keep open a batching window,
                        # as on Lambda: a filtered-out write left a stale start
                        # behind, and the next kept record was invoked at once.
                        shard.buffer.extend(kept)
                        shard.buffered_since = shard.buffered_since or time.monotonic()
            if shard.buffer and (
                len(shard.buffer) >= self.event.batch_size
                or time.monotonic() - (shard.buffered_since or 0) >= self.window
            ):
                batch = shard.buffer[: self.event.batch_size]
                del shard.buffer[: self.event.batch_size]
                shard.buffered_since = time.monotonic() if shard.buffer else None
                self._deliver(shard.shard_id, batch, sqs)
                delivered = True
        pending = any(shard.buffer for shard in self._shards.values())
        self.caught_up_at = None if (fetched or delivered or pending or not self._shards) else started
        return fetched or delivered

    def _deliver(self, shard_id: str, batch: list[dict[str, Any]], sqs: Any) -> None:
        """Invoke until the batch succeeds or its (sub)batches are given up on.

        Work items are (records, failed attempts); order within the shard is
        kept because the left half of a split is always handled first.
        """
        work: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while work and not self._stop.is_set():
            records, failures = work.popleft()
            retry_from = self._invoke(records)
            if retry_from is None:
                continue
            failures += 1
            if retry_from > 0:
                # Reported item failure: everything before it is checkpointed.
                records = records[retry_from:]
            elif self.event.bisect_on_error and len(records) > 1:
                middle = len(records) // 2
                # A split isolates a poison record; each half starts counting afresh.
                work.extendleft([(records[middle:], 0), (records[:middle], 0)])
                continue
            limit = self.event.maximum_retry_attempts
            if 0 <= limit < failures:
                self._send_to_destination(shard_id, records, failures, sqs)
                continue
            work.appendleft((records, failures))
            self._stop.wait(min(1.0, 0.05 * 2**failures))

    def _invoke(self, records: list[dict[str, Any]]) -> int | None:
        """None on success, else the index of the first record to retry."""
        try:
            result = self.runtime.invoke(self.function, {"Records": records})
        except Exception:
            logger.exception("%s failed on a batch of %d stream records", self.description, len(records))
            return 0
        if not self.event.reports_item_failures or not isinstance(result, dict):
            return None
        failures = result.get("batchItemFailures") or []
        if not failures:
            return None
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
        try:
            indexes = [sequence_numbers.index(item["itemIdentifier"]) for item in failures]
        except (KeyError, TypeError, ValueError):
            # Lambda treats an unknown or empty identifier as a failure of the whole batch.
            logger.warning("%s reported an invalid batchItemFailures %r", self.description, failures)
            return 0
        logger.info("%s reported %d failed records; retrying from #%d", self.description, len(failures),
                    min(indexes))
        return min(indexes)

    def _send_to_destination(self, shard_id: str, records: list[dict[str, Any]], attempts: int, sqs: Any) -> None:
        destination = self.event.on_failure_destination
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        info = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.runtime.function_arn(self.function),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
                "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
                "batchSize": len(records),
                "streamArn": self.event.stream,
            },
        }
        if not destination:
            logger.error("%s gave up on %d records with no on-failure destination: %s",
                         self.description, len(records), json.dumps(info["DDBStreamBatchInfo"]))
            return
        if ":sqs:" not in destination:
            logger.error("%s: on-failure destination %s is not emulated; dropping %s",
                         self.description, destination, json.dumps(info))
            return
        sqs.send_message(QueueUrl=queue_url(sqs, destination), MessageBody=json.dumps(info))
        logger.warning("%s gave up on %d records after %d attempts; sent to %s",
                       self.description, len(records), attempts, destination)


# ----------------------------------------------------------------------- SQS


def queue_url(sqs: Any, arn: str) -> str:
    _, _, _, _, account, name = arn.split(":", 5)
    return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda delivers it (lowercase attribute shape)."""
    attributes = {
        name: _jsonable(value) for name, value in (message.get("MessageAttributes") or {}).items()
    }
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: {
                **({"stringValue": a["StringValue"]} if "StringValue" in a else {}),
                **({"binaryValue": a["BinaryValue"]} if "BinaryValue" in a else {}),
                "stringListValues": a.get("StringListValues", []),
                "binaryListValues": a.get("BinaryListValues", []),
                "dataType": a.get("DataType", "String"),
            }
            for name, a in attributes.items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class SqsPoller:
    """One SQS event source mapping: a long-polling receiver and up to
    `concurrency` batches in flight at once.

    As Lambda's pollers do, the receiver only receives when a batch can be
    invoked: it takes a slot first, so no message waits invisible for a
    container, and each batch is invoked on a thread of its own. One
    receiver feeds every slot: receiving is cheap, and every idle long poll
    costs the one process it shares with moto and the handlers (57 threads
    long-polling, one per slot, burnt ~0.4 cores doing nothing).
    """

    def __init__(
        self,
        runtime: Runtime,
        function: str,
        event: SqsEvent,
        client: ClientFactory,
        concurrency: int = DEFAULT_SQS_CONCURRENCY,
    ) -> None:
        self.runtime = runtime
        self.function = function
        self.event = event
        self._client = client
        self._stop = threading.Event()
        self.window = min(event.maximum_batching_window, MAX_LOCAL_BATCHING_WINDOW)
        # MaximumConcurrency, else the local default; never more batches than
        # the runtime has containers for the function (they would only wait).
        self.concurrency = max(1, min(event.maximum_concurrency or concurrency, runtime.capacity(function)))
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._threads = [threading.Thread(target=self._run, name=f"sqs-{function}-{event.name}", daemon=True)]
        self._batches: set[threading.Thread] = set()
        self._batches_lock = threading.Lock()
        self._clients: list[Any] = []  # idle clients for the batches' deletes
        self.url = queue_url(client("sqs"), event.queue)

    @property
    def description(self) -> str:
        return f"{self.function}/{self.event.name}"

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._batches_lock:
            batches = list(self._batches)
        for thread in batches:
            thread.join(max(0.0, deadline - time.monotonic()))

    def backlog(self, sqs: Any) -> int:
        """Messages visible, in flight or delayed: zero means drained."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)

    def _run(self) -> None:
        sqs = self._client("sqs")
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.5):
                continue
            try:
                messages = self._receive(sqs)
            except Exception:
                self._slots.release()
                logger.exception("SQS poller %s failed; retrying", self.description)
                self._stop.wait(1.0)
                continue
            if not messages:
                self._slots.release()
                continue
            thread = threading.Thread(target=self._batch, args=(messages,), daemon=True,
                                      name=f"sqs-{self.function}-{self.event.name}-batch")
            with self._batches_lock:
                self._batches.add(thread)
            thread.start()

    def _batch(self, messages: list[dict[str, Any]]) -> None:
        """One invocation and its deletes, on its own thread; frees its slot."""
        with self._batches_lock:
            sqs = self._clients.pop() if self._clients else None
        try:
            sqs = sqs or self._client("sqs")
            self._handle(sqs, messages)
        except Exception:
            logger.exception("SQS poller %s failed on a batch; its messages come back", self.description)
        finally:
            with self._batches_lock:
                if sqs is not None:
                    self._clients.append(sqs)
                self._batches.discard(threading.current_thread())
            self._slots.release()

    def _receive(self, sqs: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline: float | None = None
        wait = SQS_WAIT_SECONDS
        while len(messages) < self.event.batch_size and not self._stop.is_set():
            response = sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(10, self.event.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch = response.get("Messages") or []
            messages.extend(batch)
            if not messages:
                return messages
            deadline = deadline or time.monotonic() + self.window
            if time.monotonic() >= deadline:
                break
            wait = 0
            if not batch:
                self._stop.wait(IDLE_POLL_SECONDS)
        return messages

    def _handle(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        records = [sqs_record(m, self.event.queue) for m in messages]
        try:
            result = self.runtime.invoke(self.function, {"Records": records})
        except Exception:
            # Nothing is deleted: the messages come back after the visibility
            # timeout and the queue's redrive policy eventually moves them to the DLQ.
            logger.exception("%s failed on a batch of %d messages", self.description, len(records))
            return
        done = messages
        if self.event.reports_item_failures and isinstance(result, dict) and result.get("batchItemFailures"):
            ids = {m["MessageId"] for m in messages}
            try:
                failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
            except (KeyError, TypeError):
                failed = ids
            if not failed <= ids:
                logger.warning("%s reported unknown message ids; the whole batch failed", self.description)
                failed = ids
            done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
            )
