"""The HTTP API Lambda: staff routes for components, incidents, webhooks,
subscribers, staff keys and the audit log, and the public email subscription routes. A thin handler: the
gates and the error mapping in front, then one Router per area
(status_fanout.api.routes), included in a fixed order: route order matters
for overlapping paths (see Api.include)."""

from __future__ import annotations

import gc

# Importing boto3, pydantic and Powertools allocates enough to set off full
# garbage collections of a heap that is all long-lived module state, 50-90 ms
# of a cold start with nothing to free. Collect nothing until the imports are
# done; the end of this module freezes what they built (docs/benchmarks.md).
gc.disable()

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.api import http_errors
from status_fanout.api.lazy import Services
from status_fanout.api.routes import (
    audience,
    components,
    incidents,
    keys,
    maintenances,
    subscribers,
    subscriptions,
    templates,
    webhooks,
)
from status_fanout.api.routing import Api
from status_fanout.observability import logger, metrics
from status_fanout.settings import get_settings

settings = get_settings()
# One container's state: the table, the incident service, and the webhook and
# email services its first request of such a route builds (status_fanout.api.lazy).
services = Services(settings)
api = Api()
app = api.resolver
http_errors.install(api, settings, services.store)
for area in (components, incidents, maintenances, templates, webhooks, subscriptions, subscribers, keys, audience):
    api.include(area.router(services))


# The documentation is built from the routers' records on its first request:
# no cold start loads its builder.
@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    from status_fanout.api import openapi

    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi.document(api))


@app.get("/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    from status_fanout.api import openapi

    return Response(status_code=200, content_type="text/html; charset=utf-8", body=openapi.swagger_html(api))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if any(k.lower() == "idempotency-key" for k in event.get("headers") or {}):
        from status_fanout.api import idempotency

        idempotency.register_context(context)
    return app.resolve(event, context)


# Everything above lives as long as the container: keep the collector from
# ever rescanning it (the first request would otherwise pay the collection the
# imports skipped), then collect as usual.
gc.freeze()
gc.enable()
