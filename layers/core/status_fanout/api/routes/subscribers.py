"""Staff routes of the email subscribers: list (by state), delete, export and
import (docs/subscriber-import.md). Like the subscription routes, they load
the email machinery on first use. All of them are admin routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response

from status_fanout import audit
from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Lazy, Services
from status_fanout.api.routes.subscriptions import SUBSCRIPTIONS, email_subscriptions
from status_fanout.api.routing import CSV, JSON, DocumentedRouter, body_text, parse_query

SUBSCRIBER_IO = "status_fanout.email.subscriber_io"
if TYPE_CHECKING:
    from status_fanout.email import subscriber_io
else:
    subscriber_io = Lazy(SUBSCRIBER_IO)


def router(services: Services) -> DocumentedRouter:
    routes = DocumentedRouter()

    def header(name: str) -> str:
        headers = routes.event.headers
        return headers.get(name.lower()) or headers.get(name) or ""

    @routes.operation("GET", "/v1/subscribers", "List email subscribers, newest first (filter by state)",
                      query=f"{SUBSCRIPTIONS}:SubscriberQuery")
    def list_subscribers() -> dict[str, Any]:
        query = parse_query(email_subscriptions.SubscriberQuery, routes.event.query_string_parameters)
        found, next_cursor = services.subscriptions.list(query)
        return {"subscribers": [s.public() for s in found], "next_cursor": next_cursor}

    @routes.operation("GET", "/v1/subscribers/export",
                      "Export subscribers, oldest first: CSV (email, components, state, created) or JSON "
                      "(?format=json or Accept: application/json); X-Next-Cursor when there are more",
                      query=f"{SUBSCRIBER_IO}:ExportQuery", answers=(CSV, JSON))
    def export_subscribers() -> Response[str]:
        query = parse_query(subscriber_io.ExportQuery, routes.event.query_string_parameters)
        as_json = query.format == "json" or (
            query.format is None and header("Accept").split(",")[0].split(";")[0].strip().lower() == JSON)
        export = subscriber_io.export_subscribers(services.subscriptions, query, as_json)
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        if not as_json:
            headers["Content-Disposition"] = 'attachment; filename="subscribers.csv"'
        if export.next_cursor:
            params = {k: v for k, v in (routes.event.query_string_parameters or {}).items() if k != "cursor"}
            headers["X-Next-Cursor"] = export.next_cursor
            headers["Link"] = f'</v1/subscribers/export?{urlencode({**params, "cursor": export.next_cursor})}>; ' \
                              'rel="next"'
        return Response(status_code=200, content_type=export.content_type, body=export.body, headers=headers)

    @routes.operation("POST", "/v1/subscribers/import",
                      "Import subscribers from CSV (Content-Type: text/csv) or JSON; bad rows are reported by line",
                      body=f"{SUBSCRIBER_IO}:ImportRequest", query=f"{SUBSCRIBER_IO}:ImportQuery", csv=True)
    def import_subscribers() -> Response[str]:
        query = parse_query(subscriber_io.ImportQuery, routes.event.query_string_parameters)
        is_csv = header("Content-Type").split(";")[0].strip().lower() == CSV
        report = subscriber_io.import_subscribers(services.subscriptions, body_text(routes.event), is_csv,
                                                  query.consent)
        # One audit entry for the import (it takes many transactions), with what it did.
        audit.note_counts(imported=report.imported, merged=report.merged, rejected=len(report.rejected),
                          opt_in_sent=report.opt_in_sent)
        return respond(200, report.body())

    @routes.operation("DELETE", "/v1/subscribers/<subscriber_id>", "Delete a subscriber (and its suppression)",
                      status=204, errors=(404,))
    def delete_subscriber(subscriber_id: str) -> Response[str]:
        services.subscriptions.delete(subscriber_id)
        return Response(status_code=204, body="")

    return routes
