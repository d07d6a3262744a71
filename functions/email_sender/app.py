"""The email sender Lambda: SES v2 SendEmail (raw MIME) from the email queue.

Several sends are in flight at once (EmailSender's thread pool, paced by its
token bucket), so the batch is handled by the sender itself rather than
Powertools' sequential BatchProcessor; failures are still reported per message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.email_sender import EmailSender
from status_fanout.observability import logger, metrics
from status_fanout.settings import get_settings
from status_fanout.store import Store

settings = get_settings()
# A message sent is remembered for 7 days: far longer than any retry of its job.
idempotency = IdempotencyConfig(event_key_jmespath="delivery_id", expires_after_seconds=7 * 86400,
                                raise_on_no_idempotency_key=True)
persistence = DynamoDBPersistenceLayer(table_name=settings.table_name, key_attr="pk", sort_key_attr="sk",
                                       expiry_attr="expires_at")


@idempotent_function(data_keyword_argument="delivery", config=idempotency, persistence_store=persistence)
def send_once(*, delivery: dict[str, str], attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return attempt()


def claim(delivery_id: str, attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return send_once(delivery={"delivery_id": delivery_id}, attempt=attempt)


sender = EmailSender(Store(settings.table_name), settings, claim=claim)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    records = event.get("Records") or []
    result = sender.handle_batch(records, settings.email_queue_url)
    failed = len(result["batchItemFailures"])
    metrics.add_metric(name="EmailJobsHandled", unit=MetricUnit.Count, value=len(records) - failed)
    metrics.add_metric(name="EmailJobsRetried", unit=MetricUnit.Count, value=failed)
    return result
