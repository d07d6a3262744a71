"""The email sender Lambda: SES v2 SendEmail (raw MIME) from the email queue.

The email channel (status_fanout.email.channel) on the delivery engine
(status_fanout.delivery.engine). Several sends are in flight at once, paced
by the channel's token bucket, so the engine handles the batch rather than
Powertools' sequential BatchProcessor; failures are still reported per message.
The batch's mails are claimed in one transaction (status_fanout.delivery.claims)
rather than with Powertools Idempotency's two writes per mail (docs/email.md).
"""

from __future__ import annotations

import gc

# No garbage collection during the imports, which build nothing but long-lived
# module state; the end of this module freezes it (docs/architecture.md).
gc.disable()

import math
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.delivery.engine import DeliveryEngine
from status_fanout.email.channel import EmailChannel
from status_fanout.incidents.store import IncidentStore
from status_fanout.observability import logger, metrics
from status_fanout.settings import get_settings

settings = get_settings()
store = IncidentStore(settings.table_name)
engine = DeliveryEngine(EmailChannel(store, settings), store)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    # A claim lasts as long as this invocation may: if it dies, the mail is retried after.
    lease = math.ceil(context.get_remaining_time_in_millis() / 1000)
    result = engine.handle_batch(records, settings.email.queue_url, lease_seconds=lease)
    failed = len(result["batchItemFailures"])
    metrics.add_metric(name="EmailJobsHandled", unit=MetricUnit.Count, value=len(records) - failed)
    metrics.add_metric(name="EmailJobsRetried", unit=MetricUnit.Count, value=failed)
    return result


gc.freeze()
gc.enable()
