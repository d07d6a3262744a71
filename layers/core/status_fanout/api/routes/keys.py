"""Staff routes of the staff keys and the audit log (admins only, api/roles.py):
mint a key (shown once), list keys, revoke one; read the audit log."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Services
from status_fanout.api.routing import DocumentedRouter, body_text, parse_body, parse_query
from status_fanout.audit.log import AuditLog, AuditQuery
from status_fanout.incidents.models import PageQuery
from status_fanout.staff_keys import KeyCreate, StaffKeys


def router(services: Services) -> DocumentedRouter:
    routes = DocumentedRouter()
    keys, log = StaffKeys(services.store), AuditLog(services.store)

    @routes.operation("POST", "/v1/keys", "Mint a staff key (the key is shown only here)", body=KeyCreate,
                      status=201, errors=(409,))
    def create_key() -> Response[str]:
        key, token = keys.create(parse_body(KeyCreate, body_text(routes.event)))
        return respond(201, {"key": token, **key.public()})

    @routes.operation("GET", "/v1/keys", "List staff keys, newest first (never the keys themselves)",
                      query=PageQuery)
    def list_keys() -> dict[str, Any]:
        query = parse_query(PageQuery, routes.event.query_string_parameters)
        found, next_cursor = keys.list(query.limit, query.cursor)
        return {"keys": [k.public() for k in found], "next_cursor": next_cursor}

    @routes.operation("DELETE", "/v1/keys/<key_id>", "Revoke a staff key", status=204, errors=(404,))
    def revoke_key(key_id: str) -> Response[str]:
        keys.revoke(key_id)
        return Response(status_code=204, body="")

    @routes.operation("GET", "/v1/audit", "The audit log, newest first: every staff write, 401 and 403",
                      query=AuditQuery)
    def audit_log() -> dict[str, Any]:
        entries, next_cursor = log.entries(parse_query(AuditQuery, routes.event.query_string_parameters))
        return {"entries": entries, "next_cursor": next_cursor}

    return routes
