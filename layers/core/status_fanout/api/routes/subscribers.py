"""Staff routes of the email subscribers: list (by state), delete. Like the
subscription routes, they load the email machinery on first use."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from status_fanout.api.lazy import Services
from status_fanout.api.routes.subscriptions import SUBSCRIPTIONS, email_subscriptions
from status_fanout.api.routing import DocumentedRouter, parse_query


def router(services: Services) -> DocumentedRouter:
    routes = DocumentedRouter()

    @routes.operation("GET", "/v1/subscribers", "List email subscribers, newest first (filter by state)",
                      query=f"{SUBSCRIPTIONS}:SubscriberQuery")
    def list_subscribers() -> dict[str, Any]:
        query = parse_query(email_subscriptions.SubscriberQuery, routes.event.query_string_parameters)
        found, next_cursor = services.subscriptions.list(query)
        return {"subscribers": [s.public() for s in found], "next_cursor": next_cursor}

    @routes.operation("DELETE", "/v1/subscribers/<subscriber_id>", "Delete a subscriber (and its suppression)",
                      status=204, errors=(404,))
    def delete_subscriber(subscriber_id: str) -> Response[str]:
        services.subscriptions.delete(subscriber_id)
        return Response(status_code=204, body="")

    return routes
