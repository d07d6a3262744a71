"""The fan-out Lambda: plans deliveries for every channel.

Two event sources, one engine: table stream records become event snapshots
and one planning job per (channel, shard); planning jobs from the plan queue
become delivery jobs on the channels' queues. Failed records are reported
individually (Powertools BatchProcessor), so one bad record never blocks the
rest of its batch.
"""

from __future__ import annotations

import gc

# No garbage collection during the imports, which build nothing but long-lived
# module state; the end of this module freezes it (docs/architecture.md).
gc.disable()

import random
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.delivery.jobs import PLAN_JOB_FIELDS, PoisonMessage, dead_letter_poison, hold, parse_job
from status_fanout.delivery.planner import Planner, notifying_events
from status_fanout.delivery.retry import backoff
from status_fanout.delivery.subscriber_index import SubscriberIndex
from status_fanout.incidents.store import IncidentStore
from status_fanout.observability import logger, metrics
from status_fanout.settings import get_settings

settings = get_settings()
store = IncidentStore(settings.table_name)
planner = Planner(store, SubscriberIndex(store), settings)
PLAN_RETRY_BASE_SECONDS = 2
rng = random.Random()
stream_processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
queue_processor = BatchProcessor(event_type=EventType.SQS)


def plan_record(record: DynamoDBRecord) -> None:
    for ref in notifying_events([record.raw_event]):
        event = planner.snapshot(ref)
        if event is None:
            logger.warning("event vanished before it was planned", extra={"event": ref.id})
            continue
        jobs = planner.plan_event(event)
        metrics.add_metric(name="EventsPlanned", unit=MetricUnit.Count, value=1)
        logger.info("planned", extra={"event": event.id, "type": event.type, "shard_jobs": jobs})


def plan_shard(record: SQSRecord, lambda_context: LambdaContext) -> None:
    try:
        job = parse_job(record.body, PLAN_JOB_FIELDS)
    except PoisonMessage as poison:
        if dead_letter_poison(planner.sqs, settings.fanout.plan_dlq_url, record.raw_event, str(poison)):
            metrics.add_metric(name="PoisonMessages", unit=MetricUnit.Count, value=1)
            return
        raise
    try:
        sent = planner.plan_shard(job, lambda: lambda_context.get_remaining_time_in_millis() / 1000)
    except Exception:
        # Back in seconds, not after the queue's 12-minute visibility timeout.
        delay = backoff(PLAN_RETRY_BASE_SECONDS, int(record.attributes.approximate_receive_count or 1), rng)
        hold(planner.sqs, settings.fanout.plan_queue_url, record.receipt_handle, delay)
        raise
    metrics.add_metric(name="DeliveriesEnqueued", unit=MetricUnit.Count, value=sent)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        return dict(process_partial_response(event=event, record_handler=plan_shard, processor=queue_processor,
                                             context=context))
    return dict(process_partial_response(event=event, record_handler=plan_record, processor=stream_processor,
                                         context=context))


gc.freeze()
gc.enable()
