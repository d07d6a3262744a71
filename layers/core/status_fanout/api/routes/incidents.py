"""Staff routes of the incidents: list, open, get, post an update, correct an
update, publish the postmortem."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Services
from status_fanout.api.routing import DocumentedRouter, body_text, parse_body, parse_object, parse_query, validate
from status_fanout.api.staff_view import with_created_by
from status_fanout.incidents.models import IncidentCreate, PageQuery, PostmortemPut, UpdateCorrect, UpdateCreate
from status_fanout.incidents.service import IncidentWithUpdates
from status_fanout.observability import metrics
from status_fanout.publishing.public_json import incident_object


def router(services: Services) -> DocumentedRouter:
    settings, service = services.settings, services.incidents
    routes = DocumentedRouter()

    def incident(pair: IncidentWithUpdates, components: dict[str, Any] | None = None) -> dict[str, Any]:
        found, updates = pair
        if components is None:
            components = {c.id: c for c in service.list_components()} if found.component_ids else {}
        return with_created_by(incident_object(found, updates, components, settings), found, updates)

    @routes.operation("GET", "/v1/incidents", "List incidents, newest first", query=PageQuery)
    def list_incidents() -> dict[str, Any]:
        query = parse_query(PageQuery, routes.event.query_string_parameters)
        pairs, next_cursor = service.list_incidents(query.limit, query.cursor)
        components = {c.id: c for c in service.list_components()}
        return {"incidents": [incident(p, components) for p in pairs], "next_cursor": next_cursor}

    @routes.operation("POST", "/v1/incidents", "Open an incident with its first update (from a template, whose "
                      "fields the request's override)", body=IncidentCreate, status=201)
    def create_incident() -> Response[str]:
        request = parse_object(body_text(routes.event))
        if "template" in request:  # only a templated request loads the templates' module
            request = services.templates.fill(request, "incident")
        pair = service.create_incident(validate(IncidentCreate, request))
        metrics.add_metric(name="IncidentUpdatesPosted", unit=MetricUnit.Count, value=1)
        return respond(201, incident(pair), {"Location": f"/v1/incidents/{pair[0].id}"})

    @routes.operation("GET", "/v1/incidents/<incident_id>", "Get one incident", errors=(404,))
    def get_incident(incident_id: str) -> dict[str, Any]:
        return incident(service.get_incident(incident_id))

    @routes.operation("POST", "/v1/incidents/<incident_id>/updates", "Post an update to an incident",
                      body=UpdateCreate, status=201, errors=(404,))
    def add_update(incident_id: str) -> Response[str]:
        found, updates = service.add_update(incident_id, parse_body(UpdateCreate, body_text(routes.event)))
        metrics.add_metric(name="IncidentUpdatesPosted", unit=MetricUnit.Count, value=1)
        location = f"/v1/incidents/{incident_id}/updates/{updates[-1].id}"
        return respond(201, incident((found, updates)), {"Location": location})

    @routes.operation("PATCH", "/v1/incidents/<incident_id>/updates/<update_id>",
                      "Correct an update's text or time (notifies nobody)", body=UpdateCorrect, errors=(404, 409))
    def correct_update(incident_id: str, update_id: str) -> dict[str, Any]:
        request = parse_body(UpdateCorrect, body_text(routes.event))
        return incident(service.correct_update(incident_id, update_id, request))

    @routes.operation("PUT", "/v1/incidents/<incident_id>/postmortem", "Publish or correct the postmortem",
                      body=PostmortemPut, errors=(404, 409))
    def put_postmortem(incident_id: str) -> dict[str, Any]:
        request = parse_body(PostmortemPut, body_text(routes.event))
        return incident(service.publish_postmortem(incident_id, request))

    return routes
