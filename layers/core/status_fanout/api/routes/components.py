"""Staff routes of the components: list, create or replace, change status."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Services
from status_fanout.api.routing import DocumentedRouter, body_text, parse_body
from status_fanout.errors import InvalidFieldError
from status_fanout.incidents.models import PATH_PARAMETERS, ComponentPatch, ComponentPut
from status_fanout.observability import metrics
from status_fanout.publishing.public_json import component_object


def _component_id(value: str) -> str:
    pattern, rule = PATH_PARAMETERS["component_id"]
    if not re.match(pattern, value):
        raise InvalidFieldError("component_id", rule)
    return value


def router(services: Services) -> DocumentedRouter:
    settings, service = services.settings, services.incidents
    routes = DocumentedRouter()

    @routes.operation("GET", "/v1/components", "List components")
    def list_components() -> dict[str, Any]:
        page_id = settings.page.effective_id
        return {"components": [component_object(c, page_id) for c in service.list_components()]}

    @routes.operation("PUT", "/v1/components/<component_id>", "Create (201) or replace (200) a component",
                      body=ComponentPut, status=(201, 200))
    def put_component(component_id: str) -> Response[str]:
        request = parse_body(ComponentPut, body_text(routes.event))
        component, created = service.put_component(_component_id(component_id), request)
        return respond(201 if created else 200, component_object(component, settings.page.effective_id))

    @routes.operation("PATCH", "/v1/components/<component_id>",
                      "Change a component's status (notifies its subscribers)", body=ComponentPatch, errors=(404,))
    def patch_component(component_id: str) -> dict[str, Any]:
        request = parse_body(ComponentPatch, body_text(routes.event))
        component = service.patch_component(_component_id(component_id), request)
        metrics.add_metric(name="ComponentStatusChanged", unit=MetricUnit.Count, value=1)
        return component_object(component, settings.page.effective_id)

    return routes
