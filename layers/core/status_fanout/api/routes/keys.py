"""Staff routes of the staff keys and the audit log (admins only, api/roles.py):
mint a key (shown once), list keys, revoke one; read the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Lazy, Services
from status_fanout.api.routing import DocumentedRouter, body_text, parse_body, parse_query
from status_fanout.incidents.models import PageQuery

# Loaded by the first request of one of these routes (or the OpenAPI document), not at cold start.
KEYS, AUDIT = "status_fanout.staff_keys", "status_fanout.audit.log"
if TYPE_CHECKING:
    from status_fanout import staff_keys
    from status_fanout.audit import log as audit_log
else:
    staff_keys, audit_log = Lazy(KEYS), Lazy(AUDIT)


def router(services: Services) -> DocumentedRouter:
    routes = DocumentedRouter()

    @routes.operation("POST", "/v1/keys", "Mint a staff key (the key is shown only here)", body=f"{KEYS}:KeyCreate",
                      status=201, errors=(409,))
    def create_key() -> Response[str]:
        key, token = staff_keys.StaffKeys(services.store).create(
            parse_body(staff_keys.KeyCreate, body_text(routes.event)))
        return respond(201, {"key": token, **key.public()})

    @routes.operation("GET", "/v1/keys", "List staff keys, newest first (never the keys themselves)",
                      query=PageQuery)
    def list_keys() -> dict[str, Any]:
        query = parse_query(PageQuery, routes.event.query_string_parameters)
        found, next_cursor = staff_keys.StaffKeys(services.store).list(query.limit, query.cursor)
        return {"keys": [k.public() for k in found], "next_cursor": next_cursor}

    @routes.operation("DELETE", "/v1/keys/<key_id>", "Revoke a staff key", status=204, errors=(404,))
    def revoke_key(key_id: str) -> Response[str]:
        staff_keys.StaffKeys(services.store).revoke(key_id)
        return Response(status_code=204, body="")

    @routes.operation("GET", "/v1/audit", "The audit log, newest first: every staff write, 401 and 403",
                      query=f"{AUDIT}:AuditQuery")
    def read_audit_log() -> dict[str, Any]:
        query = parse_query(audit_log.AuditQuery, routes.event.query_string_parameters)
        entries, next_cursor = audit_log.AuditLog(services.store).entries(query)
        return {"entries": entries, "next_cursor": next_cursor}

    return routes
