"""Staff routes of scheduled maintenance (docs/contract.md §9): schedule, list,
get, post an update, reschedule, cancel. The maintenance service loads on the
first request of one of them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Services
from status_fanout.api.routing import DocumentedRouter, body_text, parse_body, parse_object, parse_query, validate
from status_fanout.api.staff_view import with_created_by
from status_fanout.incidents.models import (
    MaintenanceCancel,
    MaintenanceCreate,
    MaintenancePatch,
    MaintenanceQuery,
    MaintenanceUpdateCreate,
)
from status_fanout.publishing.public_json import maintenance_object


def router(services: Services) -> DocumentedRouter:
    routes = DocumentedRouter()

    def shown(pair: Any, components: dict[str, Any] | None = None) -> dict[str, Any]:
        found, updates = pair
        if components is None:
            components = services.maintenance.components() if found.component_ids else {}
        return with_created_by(maintenance_object(found, updates, components, services.settings, full=True),
                               found, updates)

    @routes.operation("GET", "/v1/maintenances", "List scheduled maintenances, latest scheduled first",
                      query=MaintenanceQuery)
    def list_maintenances() -> dict[str, Any]:
        query = parse_query(MaintenanceQuery, routes.event.query_string_parameters)
        pairs, next_cursor = services.maintenance.list_maintenances(query.status, query.limit, query.cursor)
        components = services.maintenance.components()
        return {"maintenances": [shown(p, components) for p in pairs], "next_cursor": next_cursor}

    @routes.operation("POST", "/v1/maintenances", "Schedule a maintenance (its reminder, start and completion "
                      "follow on their own; from a template, whose fields the request's override)",
                      body=MaintenanceCreate, status=201)
    def create_maintenance() -> Response[str]:
        request = parse_object(body_text(routes.event))
        if "template" in request:
            request = services.templates.fill(request, "maintenance")
        pair = services.maintenance.create(validate(MaintenanceCreate, request))
        return respond(201, shown(pair), {"Location": f"/v1/maintenances/{pair[0].id}"})

    @routes.operation("GET", "/v1/maintenances/<maintenance_id>", "Get one maintenance", errors=(404,))
    def get_maintenance(maintenance_id: str) -> dict[str, Any]:
        return shown(services.maintenance.get(maintenance_id))

    @routes.operation("POST", "/v1/maintenances/<maintenance_id>/updates",
                      "Post an update by hand (news, an early start, verifying, an early end)",
                      body=MaintenanceUpdateCreate, status=201, errors=(404, 409))
    def add_maintenance_update(maintenance_id: str) -> Response[str]:
        request = parse_body(MaintenanceUpdateCreate, body_text(routes.event))
        return respond(201, shown(services.maintenance.add_update(maintenance_id, request)))

    @routes.operation("PATCH", "/v1/maintenances/<maintenance_id>",
                      "Rename or reschedule one not yet started (subscribers are told of new times once)",
                      body=MaintenancePatch, errors=(404, 409))
    def reschedule_maintenance(maintenance_id: str) -> dict[str, Any]:
        request = parse_body(MaintenancePatch, body_text(routes.event))
        return shown(services.maintenance.reschedule(maintenance_id, request))

    @routes.operation("POST", "/v1/maintenances/<maintenance_id>/cancel",
                      "Cancel one not yet started: its steps are removed, subscribers told",
                      body=MaintenanceCancel, errors=(404, 409))
    def cancel_maintenance(maintenance_id: str) -> Response[str]:
        request = parse_body(MaintenanceCancel, body_text(routes.event) or "{}")
        return respond(200, shown(services.maintenance.cancel(maintenance_id, request)))

    return routes
