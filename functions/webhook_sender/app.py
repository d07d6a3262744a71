"""The webhook sender Lambda: signed deliveries from the webhook queue.

The webhook channel (status_fanout.webhooks.channel) on the delivery engine
(status_fanout.delivery.engine). Many deliveries are in flight at once, so
the engine handles the batch rather than Powertools' sequential
BatchProcessor; failures are still reported per message. The batch's
deliveries are claimed in one transaction on their delivery-log items
(status_fanout.delivery.claims) rather than with Powertools Idempotency's
two writes per delivery (docs/webhooks.md, "Exactly once").
"""

from __future__ import annotations

import gc

# No garbage collection during the imports, which build nothing but long-lived
# module state; the end of this module freezes it (docs/architecture.md).
gc.disable()

import math
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from status_fanout.delivery.engine import DeliveryEngine
from status_fanout.dynamo import Store
from status_fanout.observability import logger, metrics
from status_fanout.settings import get_settings
from status_fanout.webhooks.channel import WebhookChannel
from status_fanout.webhooks.store import WebhookStore

settings = get_settings()


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


store = Store(settings.table_name)
engine = DeliveryEngine(WebhookChannel(WebhookStore(store, settings.fanout.shards), settings, notify_staff=tell_staff),
                        store)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    # A claim lasts as long as this invocation may: if it dies, the delivery is retried after.
    lease = math.ceil(context.get_remaining_time_in_millis() / 1000)
    result = engine.handle_batch(records, settings.webhook.queue_url, lease_seconds=lease)
    failed = len(result["batchItemFailures"])
    metrics.add_metric(name="WebhookJobsHandled", unit=MetricUnit.Count, value=len(records) - failed)
    metrics.add_metric(name="WebhookJobsRetried", unit=MetricUnit.Count, value=failed)
    return result


gc.freeze()
gc.enable()
