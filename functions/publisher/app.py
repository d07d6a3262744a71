"""The publisher Lambda: on table changes, re-render the public artifacts.

Its other event is the daily schedule's `{"render": "daily"}` (template.yaml
DailyRenderSchedule, just after midnight in the page's zone): the date moved,
so what shows days renders (RenderPlan.daily) though nothing was posted.

The batch is folded into one render plan (a burst of updates to one incident
renders it once). Rendering reads the table's current state, so a retried or
duplicated batch writes the same bytes; a failure raises and the stream's
bisect-and-retry, then the on-failure destination, take over.
"""

from __future__ import annotations

import gc

# No garbage collection during the imports, which build nothing but long-lived
# module state; the end of this module freezes it (docs/architecture.md).
gc.disable()

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.incidents.store import IncidentStore
from status_fanout.observability import logger, metrics
from status_fanout.publishing.publisher import Publisher, RenderPlan
from status_fanout.settings import get_settings

# The daily schedule's Input is {"render": "daily"}.
DAILY = "daily"

settings = get_settings()
publisher = Publisher(IncidentStore(settings.table_name), settings)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    daily = event.get("render") == DAILY
    plan = RenderPlan.daily() if daily else RenderPlan.from_stream_records(event.get("Records", []))
    written = publisher.publish(plan)
    changed = sorted(key for key, wrote in written.items() if wrote)
    metrics.add_metric(name="ArtifactsWritten", unit=MetricUnit.Count, value=len(changed))
    logger.info("published", extra={"render": DAILY if daily else "stream",
                                    "incidents": sorted(plan.incident_ids), "written": changed})
    return {"written": changed} if daily else {"batchItemFailures": []}


gc.freeze()
gc.enable()
