"""The one place handlers get their logger and metrics from.

No Powertools Tracer: importing it loads the X-Ray SDK (~300 ms of cold start)
and our handlers make only a few AWS calls; the template turns on Lambda's
active tracing, which records each invocation without the SDK.
"""

import os
import threading

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Defaults for when this module is imported before the environment is set
# (tests, tools); the template sets both variables for every function.
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "status-fanout")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "StatusFanout")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# Powertools' metric set is a plain dict read, appended to and written back:
# two threads adding the same new metric at once lose one value.
_count_lock = threading.Lock()


def count(name: str, value: float = 1) -> None:
    """Add `value` to the Count metric `name`; safe from the senders' worker threads."""
    with _count_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
