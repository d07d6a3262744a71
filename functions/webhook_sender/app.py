"""The webhook sender Lambda: signed deliveries from the webhook queue.

Many deliveries are in flight at once (WebhookSender's thread pool), so the
batch is handled by the sender itself rather than Powertools' sequential
BatchProcessor; failures are still reported per message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from status_fanout.observability import logger, metrics
from status_fanout.settings import get_settings
from status_fanout.store import Store
from status_fanout.webhook_sender import WebhookSender
from status_fanout.webhook_store import WebhookStore

settings = get_settings()
# A delivery made is remembered for 7 days: longer than the retry schedule
# (about 30 h) plus any replay a partner asks for in that time.
idempotency = IdempotencyConfig(event_key_jmespath="delivery_id", expires_after_seconds=7 * 86400,
                                raise_on_no_idempotency_key=True)
persistence = DynamoDBPersistenceLayer(table_name=settings.table_name, key_attr="pk", sort_key_attr="sk",
                                       expiry_attr="expires_at")


@idempotent_function(data_keyword_argument="delivery", config=idempotency, persistence_store=persistence)
def deliver_once(*, delivery: dict[str, str], attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return attempt()


def claim(delivery_id: str, attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return deliver_once(delivery={"delivery_id": delivery_id}, attempt=attempt)


def tell_staff(message: str) -> None:
    logger.warning(message)
    metrics.add_metric(name="WebhookEndpointsDisabled", unit=MetricUnit.Count, value=1)
    if settings.ops_topic_arn:
        try:
            boto3.client("sns").publish(TopicArn=settings.ops_topic_arn, Subject="status-fanout: webhook disabled",
                                        Message=message)
        except ClientError:
            # The endpoint is disabled and the metric raised either way.
            logger.exception("could not publish to the ops topic")


sender = WebhookSender(WebhookStore(Store(settings.table_name), settings.fanout_shards), settings, claim=claim,
                       notify_staff=tell_staff)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    records = event.get("Records") or []
    result = sender.handle_batch(records, settings.webhook_queue_url)
    failed = len(result["batchItemFailures"])
    metrics.add_metric(name="WebhookJobsHandled", unit=MetricUnit.Count, value=len(records) - failed)
    metrics.add_metric(name="WebhookJobsRetried", unit=MetricUnit.Count, value=failed)
    return result
