"""Staff routes of the webhook endpoints: register, list, get, change, delete,
rotate the secret, test, deliveries, replay; and the public page receivers read. The webhook machinery (service,
store, models, SSRF check) loads on the first request of one of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Lazy, Services
from status_fanout.api.routing import DocumentedRouter, body_text, parse_body, parse_query
from status_fanout.incidents.models import PageQuery

# The routes name their body models as "module:Model": /openapi.json loads them when it is first built.
MODELS = "status_fanout.webhooks.models"
if TYPE_CHECKING:  # mypy sees the module itself
    from status_fanout.webhooks import models
else:
    models = Lazy(MODELS)


def with_secret(shown: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """A newly minted secret is shown once, beside the endpoint; a chat endpoint has none."""
    return {**shown, "secret": secret} if secret else shown


def router(services: Services) -> DocumentedRouter:
    routes = DocumentedRouter()

    @routes.operation("POST", "/v1/webhooks",
                      "Register a webhook endpoint (a signed one's secret is shown only here; a chat one has none)",
                      body=f"{MODELS}:WebhookCreate", status=201)
    def create_webhook() -> Response[str]:
        endpoint, secret = services.webhooks.create(parse_body(models.WebhookCreate, body_text(routes.event)))
        return respond(201, with_secret(endpoint.public(), secret), {"Location": f"/v1/webhooks/{endpoint.id}"})

    @routes.operation("GET", "/v1/webhooks", "List webhook endpoints", query=PageQuery)
    def list_webhooks() -> dict[str, Any]:
        query = parse_query(PageQuery, routes.event.query_string_parameters)
        endpoints, next_cursor = services.webhooks.list_endpoints(query.limit, query.cursor)
        return {"webhooks": [e.public() for e in endpoints], "next_cursor": next_cursor}

    @routes.operation("GET", "/v1/webhooks/<webhook_id>", "Get a webhook endpoint", errors=(404,))
    def get_webhook(webhook_id: str) -> dict[str, Any]:
        return services.webhooks.get(webhook_id).public()

    @routes.operation("PATCH", "/v1/webhooks/<webhook_id>",
                      "Change a webhook endpoint (status 'active' re-enables it; a chat endpoint made a signed one "
                      "shows its new secret here, once)", body=f"{MODELS}:WebhookPatch", errors=(404, 409))
    def update_webhook(webhook_id: str) -> dict[str, Any]:
        request = parse_body(models.WebhookPatch, body_text(routes.event))
        endpoint, secret = services.webhooks.update(webhook_id, request)
        return with_secret(endpoint.public(), secret)

    @routes.operation("DELETE", "/v1/webhooks/<webhook_id>", "Delete a webhook endpoint", status=204, errors=(404,))
    def delete_webhook(webhook_id: str) -> Response[str]:
        services.webhooks.delete(webhook_id)
        return Response(status_code=204, body="")

    @routes.operation("POST", "/v1/webhooks/<webhook_id>/rotate-secret",
                      "New signing secret; the old one keeps signing for 24 hours (409 for a chat endpoint)",
                      status=201, errors=(404, 409))
    def rotate_webhook_secret(webhook_id: str) -> Response[str]:
        endpoint, secret = services.webhooks.rotate_secret(webhook_id)
        return respond(201, {**endpoint.public(), "secret": secret})

    @routes.operation("POST", "/v1/webhooks/<webhook_id>/test", "Send a webhook.test event", status=202,
                      errors=(404,))
    def test_webhook(webhook_id: str) -> Response[str]:
        return respond(202, {"delivery_id": services.webhooks.send_test(webhook_id)})

    @routes.operation("GET", "/v1/webhooks/<webhook_id>/deliveries", "Deliveries, newest first, with every attempt",
                      query=PageQuery, errors=(404,))
    def webhook_deliveries(webhook_id: str) -> dict[str, Any]:
        query = parse_query(PageQuery, routes.event.query_string_parameters)
        deliveries, next_cursor = services.webhooks.deliveries(webhook_id, query.limit, query.cursor)
        hidden = ("pk", "sk", "type", "expires_at", "lease_until")
        shown = [{k: v for k, v in d.items() if k not in hidden} for d in deliveries]
        return {"deliveries": shown, "next_cursor": next_cursor}

    @routes.operation("POST", "/v1/webhooks/<webhook_id>/replay", "Re-send what failed since a time",
                      body=f"{MODELS}:ReplayRequest", status=202, errors=(404,))
    def replay_webhook(webhook_id: str) -> Response[str]:
        request = parse_body(models.ReplayRequest, body_text(routes.event))
        return respond(202, {"replayed": services.webhooks.replay(webhook_id, request)})

    @routes.get("/docs/webhooks", include_in_schema=False)
    def webhook_docs_page() -> Response[str]:
        """What webhook receivers get and how an endpoint stops them (public); Statuspage-format
        bodies link here (meta.documentation, meta.unsubscribe)."""
        from status_fanout.webhooks import docs as webhook_docs

        endpoint = (routes.current_event.query_string_parameters or {}).get("endpoint")
        return Response(status_code=200, content_type=webhook_docs.HTML_TYPE,
                        body=webhook_docs.page(services.settings, endpoint), headers=dict(webhook_docs.HEADERS))

    return routes
