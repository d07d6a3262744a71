"""The one place handlers get their logger and metrics from.

No Powertools Tracer: importing it loads the X-Ray SDK (~300 ms of cold start)
and our handlers make only a few AWS calls; the template turns on Lambda's
active tracing, which records each invocation without the SDK.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
