"""The email feedback Lambda: SES bounce and complaint events (via SNS) suppress addresses."""

from __future__ import annotations

import gc

# No garbage collection during the imports, which build nothing but long-lived
# module state; the end of this module freezes it (docs/architecture.md).
gc.disable()

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.email.feedback import apply, ses_messages
from status_fanout.email.subscriptions import SubscriptionService
from status_fanout.incidents.store import IncidentStore
from status_fanout.observability import logger, metrics
from status_fanout.settings import get_settings

settings = get_settings()
service = SubscriptionService(IncidentStore(settings.table_name), settings)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for message in ses_messages(event.get("Records") or []):
        for outcome, _address in apply(service, message):
            counts[outcome] = counts.get(outcome, 0) + 1
    for outcome, metric in (("suppressed", "EmailAddressesSuppressed"), ("soft-bounce", "EmailSoftBounces")):
        if counts.get(outcome):
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=counts[outcome])
    logger.info("feedback applied", extra={"outcomes": counts})
    return {"outcomes": counts}


gc.freeze()
gc.enable()
