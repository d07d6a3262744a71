"""The maintenance clock Lambda: a one-time EventBridge Scheduler schedule
(status_fanout.maintenance.schedules) fires with {"maintenance_id", "step",
"sequence"}, and the step is taken, once (MaintenanceService.take_step): a
late, repeated or outdated firing changes nothing.

An input that is not a step is logged and dropped: every retry would fail
the same way. Anything else that fails raises, and Lambda tries the
asynchronous invocation again (template.yaml, EventInvokeConfig)."""

from __future__ import annotations

import gc

# No garbage collection during the imports, which build nothing but long-lived
# module state; the end of this module freezes it (docs/architecture.md).
gc.disable()

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.incidents.store import IncidentStore
from status_fanout.maintenance.service import MaintenanceService, clock_event
from status_fanout.observability import logger, metrics
from status_fanout.settings import get_settings

settings = get_settings()
service = MaintenanceService(IncidentStore(settings.table_name), settings)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    try:
        maintenance_id, step, sequence = clock_event(event)
    except (ValueError, TypeError) as exc:
        logger.error("maintenance clock input dropped", extra={"error": str(exc), "input": repr(event)[:1000]})
        metrics.add_metric(name="MaintenanceClockInputsDropped", unit=MetricUnit.Count, value=1)
        return {"applied": False, "dropped": str(exc)}
    applied = service.take_step(maintenance_id, step, sequence)
    metrics.add_metric(name="MaintenanceStepsTaken" if applied else "MaintenanceStepsSkipped",
                       unit=MetricUnit.Count, value=1)
    return {"maintenance_id": maintenance_id, "step": step, "sequence": sequence, "applied": applied}


gc.freeze()
gc.enable()
