"""Staff routes of the incident templates (docs/templates.md): create or
replace, get, list, delete. Opening an incident or a maintenance from one is
the incident and maintenance routes' (`template` in their bodies)."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import Response

from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Services
from status_fanout.api.routing import DocumentedRouter, body_text, parse_body, parse_query
from status_fanout.errors import InvalidFieldError
from status_fanout.incidents.models import PATH_PARAMETERS, PageQuery, TemplatePut


def _template_id(value: str) -> str:
    pattern, rule = PATH_PARAMETERS["template_id"]
    if not re.match(pattern, value):
        raise InvalidFieldError("template_id", rule)
    return value


def router(services: Services) -> DocumentedRouter:
    routes = DocumentedRouter()

    @routes.operation("PUT", "/v1/templates/<template_id>", "Create (201) or replace (200) an incident template",
                      body=TemplatePut, status=(201, 200))
    def put_template(template_id: str) -> Response[str]:
        request = parse_body(TemplatePut, body_text(routes.event))
        template, created = services.templates.put(_template_id(template_id), request)
        return respond(201 if created else 200, template.model_dump(),
                       {"Location": f"/v1/templates/{template.id}"} if created else None)

    @routes.operation("GET", "/v1/templates", "List incident templates, by id", query=PageQuery)
    def list_templates() -> dict[str, Any]:
        query = parse_query(PageQuery, routes.event.query_string_parameters)
        found, next_cursor = services.templates.page(query.limit, query.cursor)
        return {"templates": [t.model_dump() for t in found], "next_cursor": next_cursor}

    @routes.operation("GET", "/v1/templates/<template_id>", "Get an incident template", errors=(404, 422))
    def get_template(template_id: str) -> dict[str, Any]:
        return services.templates.get(_template_id(template_id)).model_dump()

    @routes.operation("DELETE", "/v1/templates/<template_id>",
                      "Delete an incident template (what was opened from it stays as it is)", status=204,
                      errors=(404, 422))
    def delete_template(template_id: str) -> Response[str]:
        services.templates.delete(_template_id(template_id))
        return Response(status_code=204, body="")

    return routes
