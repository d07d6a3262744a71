"""The in-process AWS emulator (moto server) and the template's resources in it."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from .template import ACCOUNT_ID, REGION, PhysicalResource, Resolver, Template, physical_name

logger = logging.getLogger("status_fanout_local.emulator")

# Credentials moto accepts; they can never reach a real account.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
BOTO_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)

# CloudFormation property → SQS attribute; SQS wants every value as a string.
_SQS_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


_DYNAMODB_OPERATIONS = (
    "put_item", "update_item", "delete_item", "get_item", "query", "scan", "batch_write_item",
    "batch_get_item", "transact_write_items", "transact_get_items",
)
_dynamodb_lock = threading.RLock()
_depth = 0  # nesting of the DynamoDB operations running under _dynamodb_lock


def serialize_dynamodb() -> None:
    """Make moto's DynamoDB as atomic as the real one.

    moto runs requests on many threads, and its transact_write_items rolls a
    failed transaction back by restoring a deep copy of the whole table taken
    when it began, which erases any write another thread made meanwhile (seen
    as lost updates under concurrent posts). DynamoDB serialises transactions
    against every other write; one lock around moto's table operations does too.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in _DYNAMODB_OPERATIONS:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_serialized", False):
            continue

        if name == "transact_write_items":
            original = _stream_survives_rollback(original)

        def locked(*args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            global _depth
            with _dynamodb_lock:
                _depth += 1
                try:
                    return __original(*args, **kwargs)
                finally:
                    _depth -= 1
                    if not _depth:  # moto's transactions call the wrapped put_item & co.
                        stream_activity.operation_done()

        locked._serialized = True  # type: ignore[attr-defined]
        locked.__name__ = name
        setattr(DynamoDBBackend, name, locked)


# What the running transaction writes, and the rollback snapshots taken for
# it: set by transact_write_items for _rollback_snapshot. One DynamoDB
# operation runs at a time (serialize_dynamodb), so one slot is enough.
_transaction: dict[str, Any] | None = None


def _stream_survives_rollback(transact: Callable[..., Any]) -> Callable[..., Any]:
    """Keep a table's stream alive across a cancelled transaction.

    moto rolls a cancelled transaction back by swapping in a copy of the
    table, stream shard included, while every open shard iterator keeps
    pointing at the old shard: from then on a stream consumer saw no new
    records at all (the fan-out went silent after the first subscribe of a
    known address). Here the live shard goes back into the restored table,
    minus the records of the writes that were rolled back, as on DynamoDB.
    """

    def transact_write_items(backend: Any, *args: Any, **kwargs: Any) -> Any:
        global _transaction
        shards = {name: (table.stream_shard, len(table.stream_shard.items))
                  for name, table in backend.tables.items() if table.stream_shard is not None}
        items = kwargs.get("transact_items", args[0] if args else [])
        _transaction = {"partitions": _partitions_written(backend, items), "snapshots": {}}
        try:
            return transact(backend, *args, **kwargs)
        except Exception:
            for name, (shard, length) in shards.items():
                del shard.items[length:]
                restored = backend.tables.get(name)
                if restored is not None and restored.stream_shard is not shard:
                    restored.stream_shard = shard
                    shard.table = restored
            raise
        finally:
            _transaction = None

    return transact_write_items


def _partitions_written(backend: Any, transact_items: Any) -> dict[str, set[Any]] | None:
    """Table name → the partition keys (moto's DynamoType) a transaction names;
    None if it names something unexpected, and the snapshot copies everything."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    partitions: dict[str, set[Any]] = defaultdict(set)
    try:
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = backend.tables.get(op["TableName"])
            if table is None:
                continue
            key = op.get("Key") or op.get("Item")
            partitions[table.name].add(DynamoType(key[table.hash_key_attr]))
    except (KeyError, TypeError, AttributeError, StopIteration):
        return None
    return partitions


def _rollback_snapshot(table: Any, memo: dict[int, Any]) -> Any:
    """What moto's transact_write_items keeps to roll a failed transaction back.

    moto deep-copies the whole table, stream records included, once per item
    of every transaction: time per write grew with the table times the
    transaction's size (1.2 s to claim ten mails beside 1,000 subscribers)
    and, as moto tracks every model instance it ever made, the copies were
    never freed (8 GB after ~500 incidents). A rollback only has to restore
    the partitions the transaction writes, since no other operation runs
    meanwhile (serialize_dynamodb): those are copied, item by item, and every
    other partition is shared with the live table. One snapshot per table
    per transaction. Put, Delete, ConditionCheck and Update are covered:
    moto's update_item replaces attribute values rather than editing them in
    place.
    """
    context = _transaction
    if context is not None and id(table) in context["snapshots"]:
        return context["snapshots"][id(table)]
    clone = object.__new__(type(table))
    clone.__dict__.update(table.__dict__)
    partitions = (context["partitions"] or {}).get(table.name) if context else None
    if context is None or context["partitions"] is None:
        chosen = table.items.keys()
        clone.items = defaultdict(dict)
    else:
        chosen = partitions or set()
        clone.items = defaultdict(dict, table.items)  # untouched partitions shared
        for hash_key in [k for k in chosen if k not in table.items]:
            clone.items.pop(hash_key, None)
    for hash_key in chosen:
        value = table.items.get(hash_key)
        if value is None:
            continue
        if isinstance(value, dict):
            clone.items[hash_key] = {range_key: _item_copy(item) for range_key, item in value.items()}
        else:
            clone.items[hash_key] = _item_copy(value)
    if context is not None:
        context["snapshots"][id(table)] = clone
    return clone  # its stream shard is put back by _stream_survives_rollback


def _item_copy(item: Any) -> Any:
    clone = object.__new__(type(item))
    clone.__dict__.update(item.__dict__)
    clone.attrs = type(item.attrs)(item.attrs)
    return clone


def _partition_query(query: Callable[..., Any]) -> Callable[..., Any]:
    """moto answers a Query on the table by sorting every item of the table
    and keeping the partition's; this hands it the partition alone. Index
    queries still read everything (moto keeps no index structures). Safe
    because serialize_dynamodb runs one DynamoDB operation at a time."""

    def by_partition(table: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return query(table, hash_key, *args, **kwargs)
        partition = table.items.get(hash_key)
        if partition is None:
            items: list[Any] = []
        elif table.range_key_attr:
            items = list(partition.values())
        else:
            items = [partition]
        table.all_items = lambda: items
        try:
            return query(table, hash_key, *args, **kwargs)
        finally:
            del table.all_items

    by_partition._by_partition = True  # type: ignore[attr-defined]
    return by_partition


class _Forgetful(list[Any]):
    """moto's per-class instance registry, minus the memory: nothing is kept."""

    def append(self, _: Any) -> None:
        return None


def lean_dynamodb() -> None:
    """Bound moto's DynamoDB memory and per-write cost (see _rollback_snapshot).

    Only DynamoDB's item, stream and table models stop being tracked; SES's
    stay, since /moto-api/data.json (the sent mail) reads its registry.
    """
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord, StreamShard, Table

    setattr(Table, "__deepcopy__", _rollback_snapshot)  # noqa: B010 - patching moto's class
    if not getattr(Table.query, "_by_partition", False):
        setattr(Table, "query", _partition_query(Table.query))  # noqa: B010
    for model in (Item, StreamRecord, StreamShard, Table):
        setattr(model, "instances_tracked", _Forgetful())  # noqa: B010


def _retained(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check of a received message, without its cost: moto
    computed every attribute of the queue (three of them counting all its
    messages) once per message received, ~2.6 ms each."""
    from moto.core.utils import unix_time

    queue = backend.get_queue(queue_name)
    return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time())


def lean_sqs() -> None:
    """moto's SQS, cheaper per received message, and a message made visible
    again at once (a retry held 0 s) ends a waiting long poll, as on SQS:
    moto only looked again once a second."""
    from moto.sqs.models import SQSBackend

    setattr(SQSBackend, "is_message_valid_based_on_retention_period", _retained)  # noqa: B010 - patching moto
    change = SQSBackend.change_message_visibility
    if getattr(change, "_wakes", False):
        return

    def change_and_wake(backend: Any, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        change(backend, queue_name, receipt_handle, visibility_timeout)
        if int(visibility_timeout) == 0:
            queue = backend.get_queue(queue_name)
            with queue._messages_lock:
                queue._messages_lock.notify_all()

    change_and_wake._wakes = True  # type: ignore[attr-defined]
    setattr(SQSBackend, "change_message_visibility", change_and_wake)  # noqa: B010


class StreamActivity:
    """A generation count of the table streams' writes, for the local stream
    pollers to sleep on instead of polling moto every few milliseconds: they
    are woken once a DynamoDB operation that appended stream records has
    finished (a transaction as a whole, so that a poller never wakes to read
    the records of one that is then rolled back), and otherwise read again
    after their poll interval. Works because moto runs in this process."""

    def __init__(self) -> None:
        self._written = threading.Condition()
        self.generation = 0
        self._appended = False

    def appended(self) -> None:
        """A record was appended; called by moto's stream shard, under _dynamodb_lock."""
        self._appended = True

    def operation_done(self) -> None:
        """The outermost DynamoDB operation ended, under _dynamodb_lock."""
        if self._appended:
            self._appended = False
            with self._written:
                self.generation += 1
                self._written.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Until a write newer than generation `seen`, or `timeout` seconds."""
        with self._written:
            self._written.wait_for(lambda: self.generation != seen, timeout=max(0.0, timeout))


stream_activity = StreamActivity()


def signal_stream_writes() -> None:
    """Tell stream_activity of every record moto appends to a table stream,
    and read a stream only between DynamoDB operations: a GetRecords served
    during a transaction could see a record its rollback then removes (and
    whose sequence number the next write reuses)."""
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    add = StreamShard.add
    if getattr(add, "_signals", False):
        return

    def add_and_signal(shard: Any, *args: Any, **kwargs: Any) -> Any:
        stream_activity.appended()
        return add(shard, *args, **kwargs)

    get_records = DynamoDBStreamsBackend.get_records

    def get_records_between_writes(*args: Any, **kwargs: Any) -> Any:
        with _dynamodb_lock:
            return get_records(*args, **kwargs)

    add_and_signal._signals = True  # type: ignore[attr-defined]
    setattr(StreamShard, "add", add_and_signal)  # noqa: B010 - patching moto's class
    setattr(DynamoDBStreamsBackend, "get_records", get_records_between_writes)  # noqa: B010


class LocalStreams:
    """The three DynamoDB Streams calls a local stream poller makes
    (DescribeStream, GetShardIterator from TRIM_HORIZON, GetRecords),
    answered from moto's model in this process, in the shapes boto3 returns.

    Over HTTP a stream record cost ~3 ms of CPU (moto's serializer, then
    botocore's parser), and every write to the table is a record that both
    of the template's stream mappings read and, mostly, filter out: ~2 s of
    the one process's CPU per notifying update. Lambda's event source
    mappings read the stream outside the function too. Reads take the
    DynamoDB lock, so they never see a transaction's records before it has
    committed."""

    def _shard(self, stream_arn: str) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        table_name = stream_arn.split(":", 6)[5].split("/")[1]
        return dynamodb_backends[ACCOUNT_ID][REGION].get_table(table_name).stream_shard

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:  # boto3's parameter names
        with _dynamodb_lock:
            shard = self._shard(StreamArn)
        shards = [{"ShardId": shard.id}] if shard is not None else []
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str) -> dict[str, Any]:
        if ShardIteratorType != "TRIM_HORIZON":
            raise ValueError(f"only TRIM_HORIZON is emulated, not {ShardIteratorType}")
        with _dynamodb_lock:
            start = self._shard(StreamArn).starting_sequence_number
        return {"ShardIterator": f"{StreamArn}|{ShardId}|{start}"}

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict[str, Any]:
        stream_arn, shard_id, position = ShardIterator.rsplit("|", 2)
        sequence = int(position)
        with _dynamodb_lock:
            shard = self._shard(stream_arn)
            offset = sequence - shard.starting_sequence_number
            items = [item.to_json() for item in shard.items[offset : offset + Limit]]
        records = []
        for raw in items:
            change = raw["dynamodb"]
            created = change["ApproximateCreationDateTime"]  # moto's naive UTC; boto3 gives it aware
            if isinstance(created, datetime) and created.tzinfo is None:
                change = {**change, "ApproximateCreationDateTime": created.replace(tzinfo=UTC)}
            records.append({**raw, "dynamodb": change})
        return {"Records": records, "NextShardIterator": f"{stream_arn}|{shard_id}|{sequence + len(records)}"}


local_streams = LocalStreams()


class ScheduleActivity:
    """A generation count of the writes to moto's EventBridge Scheduler (a
    schedule or a group created, updated or deleted), for the local
    scheduler pollers to sleep on: they list a group again once it may have
    changed, or when the next schedule they know of is due, instead of
    listing it over HTTP five times a second (~0.04 cores of an idle stack)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.generation = 0

    def changed(self) -> None:
        with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Until a write newer than generation `seen`, or `timeout` seconds."""
        with self._changed:
            self._changed.wait_for(lambda: self.generation != seen, timeout=max(0.0, timeout))


schedule_activity = ScheduleActivity()
_SCHEDULER_WRITES = ("create_schedule", "update_schedule", "delete_schedule", "create_schedule_group",
                     "delete_schedule_group")
_SCHEDULER_READS = ("get_schedule", "list_schedules", "get_schedule_group", "list_schedule_groups")
_scheduler_lock = threading.RLock()  # moto's get_schedule calls its get_schedule_group


def signal_schedule_writes() -> None:
    """Tell schedule_activity of every write to moto's Scheduler, and run its
    operations one at a time: its backend is plain dicts, and a listing
    while the API creates a schedule failed with "dictionary changed size
    during iteration"."""
    from moto.scheduler.models import EventBridgeSchedulerBackend

    for name in (*_SCHEDULER_WRITES, *_SCHEDULER_READS):
        original = getattr(EventBridgeSchedulerBackend, name)
        if getattr(original, "_signals", False):
            continue

        def signalled(*args: Any, __original: Callable[..., Any] = original, __write: bool = name in _SCHEDULER_WRITES,
                      **kwargs: Any) -> Any:
            try:
                with _scheduler_lock:
                    return __original(*args, **kwargs)
            finally:
                if __write:
                    schedule_activity.changed()

        signalled._signals = True  # type: ignore[attr-defined]
        signalled.__name__ = name
        setattr(EventBridgeSchedulerBackend, name, signalled)


# The port of the previous emulator in this process. Handlers' shared library
# may cache boto3 clients in module globals, which outlive a stack; reusing the
# port keeps such clients pointing at a live emulator when tests start a
# second stack in the same process.
_previous_port = 0


class Emulator:
    """A moto server on 127.0.0.1 with a free port."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.url = ""

    def start(self) -> None:
        global _previous_port
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            # moto logs every AWS call at INFO; the pollers alone make ~20 a second.
            werkzeug_log.setLevel(logging.WARNING)
        serialize_dynamodb()
        signal_stream_writes()
        signal_schedule_writes()
        lean_sqs()
        # ThreadedMotoServer binds in its thread and hangs start() if the bind
        # fails, so the old port is probed first.
        self._server = self._serve(_previous_port if _port_free(_previous_port) else 0)
        host, port = self._server.get_host_and_port()
        _previous_port = port
        self.url = f"http://{host}:{port}"
        # moto keeps its state in module globals shared by every server in the
        # process, so a second stack in the same process would see the first
        # one's tables; a reset makes each start() begin from nothing.
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback only
            pass
        lean_dynamodb()  # after the reset, which gives every model a fresh registry
        logger.debug("moto server on %s", self.url)

    @staticmethod
    def _serve(port: int) -> ThreadedMotoServer:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        return server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def environment(self) -> dict[str, str]:
        """What boto3 (in handlers too) needs to talk to this emulator only."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **FAKE_CREDENTIALS,
        }

    def client(self, service: str) -> Any:
        # A session per client: boto3's default session is not thread-safe.
        session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )
        return session.client(service, endpoint_url=self.url, config=BOTO_CONFIG)


def _port_free(port: int) -> bool:
    if not port:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ResourceFactory:
    """Creates the template's emulated resources and records their physical names."""

    def __init__(self, emulator: Emulator, template: Template, resolver: Resolver) -> None:
        self.emulator = emulator
        self.template = template
        self.resolver = resolver
        self._creators: dict[str, Callable[[str, Mapping[str, Any]], PhysicalResource]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::SQS::Queue": self._queue,
            # Real topics, so what the functions publish (the ops topic's staff
            # notices) reaches whoever subscribes locally, as on AWS.
            "AWS::SNS::Topic": self._topic,
            # Real groups, so the API's schedules land in them and the local
            # stack's scheduler poller fires them (pollers.SchedulerPoller).
            "AWS::Scheduler::ScheduleGroup": self._schedule_group,
            # The template's own schedules (the daily render), in their group,
            # where its poller fires them like the API's.
            "AWS::Scheduler::Schedule": self._schedule,
            "AWS::IAM::Role": self._role,
        }

    def create_all(self) -> dict[str, PhysicalResource]:
        for logical_id, resource_type, raw in self.template.emulated_resources(self.resolver):
            # Resolve late: a queue's redrive policy needs its DLQ's ARN.
            props = self.resolver.resolve(raw) or {}
            created = self._creators[resource_type](logical_id, props)
            self.resolver.physical[logical_id] = created
            logger.debug("created %s %s as %s", resource_type, logical_id, created.ref)
        return self.resolver.physical

    def _table(self, logical_id: str, props: Mapping[str, Any]) -> PhysicalResource:
        client = self.emulator.client("dynamodb")
        name = props.get("TableName") or physical_name(logical_id, "AWS::DynamoDB::Table")
        provisioned = props.get("BillingMode", "PROVISIONED") != "PAY_PER_REQUEST"
        throughput = props.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": "PROVISIONED" if provisioned else "PAY_PER_REQUEST",
        }
        if provisioned:
            args["ProvisionedThroughput"] = _ints(throughput)
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                indexes = []
                for index in props[key]:
                    index = {k: index[k] for k in ("IndexName", "KeySchema", "Projection") if k in index}
                    if provisioned and key == "GlobalSecondaryIndexes":
                        index["ProvisionedThroughput"] = _ints(
                            index.get("ProvisionedThroughput") or throughput
                        )
                    indexes.append(index)
                args[key] = indexes
        stream = props.get("StreamSpecification")
        if stream:
            args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        description = client.create_table(**args)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        attributes = {"Arn": description["TableArn"]}
        if "LatestStreamArn" in description:
            attributes["StreamArn"] = description["LatestStreamArn"]
        return PhysicalResource(logical_id, "AWS::DynamoDB::Table", name, attributes)

    def _bucket(self, logical_id: str, props: Mapping[str, Any]) -> PhysicalResource:
        name = props.get("BucketName") or physical_name(logical_id, "AWS::S3::Bucket")
        self.emulator.client("s3").create_bucket(Bucket=name)  # us-east-1: no LocationConstraint
        return PhysicalResource(
            logical_id,
            "AWS::S3::Bucket",
            name,
            {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{REGION}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{REGION}.amazonaws.com",
            },
        )

    def _queue(self, logical_id: str, props: Mapping[str, Any]) -> PhysicalResource:
        client = self.emulator.client("sqs")
        fifo = str(props.get("FifoQueue", "false")).lower() == "true"
        name = props.get("QueueName") or physical_name(logical_id, "AWS::SQS::Queue")
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = {key: _sqs_value(props[key]) for key in _SQS_ATTRIBUTES if key in props}
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in props:
                policy = props[key]
                attributes[key] = policy if isinstance(policy, str) else json.dumps(policy)
        url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return PhysicalResource(
            logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
        )


    def _topic(self, logical_id: str, props: Mapping[str, Any]) -> PhysicalResource:
        name = props.get("TopicName") or physical_name(logical_id, "AWS::SNS::Topic")
        arn = self.emulator.client("sns").create_topic(Name=name)["TopicArn"]
        return PhysicalResource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


    def _schedule_group(self, logical_id: str, props: Mapping[str, Any]) -> PhysicalResource:
        name = props.get("Name") or physical_name(logical_id, "AWS::Scheduler::ScheduleGroup")
        arn = self.emulator.client("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
        return PhysicalResource(logical_id, "AWS::Scheduler::ScheduleGroup", name, {"Arn": arn})

    def _schedule(self, logical_id: str, props: Mapping[str, Any]) -> PhysicalResource:
        """The schedule as written (expression, zone, window, target with its Input and retries)."""
        name = props.get("Name") or physical_name(logical_id, "AWS::Scheduler::Schedule")
        target = dict(props["Target"])
        if isinstance(target.get("Input"), Mapping):
            target["Input"] = json.dumps(target["Input"])
        if "RetryPolicy" in target:
            target["RetryPolicy"] = {k: int(v) for k, v in target["RetryPolicy"].items()}
        window = dict(props.get("FlexibleTimeWindow") or {"Mode": "OFF"})
        if "MaximumWindowInMinutes" in window:
            window["MaximumWindowInMinutes"] = int(window["MaximumWindowInMinutes"])
        optional = {key: props[key] for key in ("ScheduleExpressionTimezone", "Description", "State",
                                                "StartDate", "EndDate", "KmsKeyArn") if props.get(key)}
        arn = self.emulator.client("scheduler").create_schedule(
            Name=name, GroupName=props.get("GroupName") or "default", ScheduleExpression=props["ScheduleExpression"],
            FlexibleTimeWindow=window, Target=target, **optional)["ScheduleArn"]
        return PhysicalResource(logical_id, "AWS::Scheduler::Schedule", name, {"Arn": arn})

    def _role(self, logical_id: str, props: Mapping[str, Any]) -> PhysicalResource:
        """The role and its inline policies, as written; nothing locally checks them."""
        iam = self.emulator.client("iam")
        name = props.get("RoleName") or physical_name(logical_id, "AWS::IAM::Role")
        role = iam.create_role(RoleName=name, Path=props.get("Path") or "/",
                               AssumeRolePolicyDocument=_json_text(props.get("AssumeRolePolicyDocument") or {}),
                               Description=props.get("Description") or "")["Role"]
        for policy in props.get("Policies") or []:
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                                PolicyDocument=_json_text(policy["PolicyDocument"]))
        return PhysicalResource(logical_id, "AWS::IAM::Role", name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _json_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _ints(throughput: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(throughput[k]) for k in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _sqs_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def apply_environment(values: Mapping[str, str], saved: dict[str, str | None]) -> None:
    """Set process env vars, remembering the first previous value for restore_environment."""
    for key, value in values.items():
        saved.setdefault(key, os.environ.get(key))
        os.environ[key] = value


def restore_environment(saved: Mapping[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
