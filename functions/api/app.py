"""The HTTP API Lambda: staff routes for components, incidents, webhooks and
subscribers, and the public email subscription routes."""

from __future__ import annotations

import gc

# Importing boto3, pydantic and Powertools allocates enough to set off full
# garbage collections of a heap that is all long-lived module state, 50-90 ms
# of a cold start with nothing to free. Collect nothing until the imports are
# done; the end of this module freezes what they built (docs/benchmarks.md).
gc.disable()

import functools
import importlib
import re
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.api import http_errors, openapi
from status_fanout.api.auth import hash_token
from status_fanout.api.openapi import parse_body, parse_form, parse_query
from status_fanout.errors import ConflictError, DomainError, InvalidFieldError, MalformedRequestError, NotFoundError
from status_fanout.incidents.models import (
    PATH_PARAMETERS,
    ComponentPatch,
    ComponentPut,
    IncidentCreate,
    PageQuery,
    PostmortemPut,
    UpdateCorrect,
    UpdateCreate,
)
from status_fanout.incidents.service import IncidentWithUpdates, StatusService
from status_fanout.incidents.store import IncidentStore
from status_fanout.observability import logger, metrics
from status_fanout.publishing.public_json import component_object, incident_object
from status_fanout.settings import get_settings

if TYPE_CHECKING:
    from status_fanout.email import subscriptions as email_subscriptions
    from status_fanout.email import tokens as email_tokens
    from status_fanout.email.subscriptions import SubscriptionService
    from status_fanout.publishing import pages
    from status_fanout.webhooks import models as webhooks
    from status_fanout.webhooks.service import WebhookService

settings = get_settings()


class _Lazy:
    """A module imported on its first attribute access. Staff posting incident
    updates is the cold start that matters: it never pays for the pages
    (Jinja2) nor the webhook and email machinery (services, stores, their
    models), which load on the first request of a route that uses them."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


# The routes of these modules name their body and query models as "module:Model":
# /openapi.json loads them when it is first built.
WEBHOOKS = "status_fanout.webhooks.models"
SUBSCRIPTIONS = "status_fanout.email.subscriptions"
if not TYPE_CHECKING:  # mypy sees the modules themselves (above)
    pages = _Lazy("status_fanout.publishing.pages")
    webhooks = _Lazy(WEBHOOKS)
    email_subscriptions = _Lazy(SUBSCRIPTIONS)
    email_tokens = _Lazy("status_fanout.email.tokens")

store = IncidentStore(settings.table_name)
service = StatusService(store)
api = openapi.Api()
app = api.resolver


@functools.cache
def _webhook_service() -> WebhookService:
    from status_fanout.webhooks.service import WebhookService

    return WebhookService(store, settings)


@functools.cache
def _subscriptions() -> SubscriptionService:
    return email_subscriptions.SubscriptionService(store, settings, enqueue=_webhook_service().planner.send)


def staff_gate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    http_errors.refuse(app.current_event, settings)
    return next_middleware(app)


def idempotency_gate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    event = app.current_event
    key = event.headers.get("idempotency-key") or event.headers.get("Idempotency-Key")
    if event.http_method != "POST" or not key:
        return next_middleware(app)
    http_errors.check_idempotency_key(key)
    from status_fanout.api import idempotency  # only requests with the header pay for it

    def run() -> dict[str, Any]:
        response = next_middleware(app)
        return {"status": response.status_code, "body": response.body, "headers": dict(response.headers)}

    scope = hash_token(http_errors.authorization_header(event))[:16]
    first = idempotency.run_once(f"{scope} POST {event.path}", key, event.body or "", run)
    return Response(status_code=first["status"], body=first["body"], headers=first["headers"])


app.use(middlewares=[staff_gate, idempotency_gate])
http_errors.register(app)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return http_errors.respond(status, body, headers)


def _body() -> str:
    """The request body as text. The front door base64-encodes a body that is not
    UTF-8; that is a malformed request, not an unexpected error."""
    event = app.current_event
    if not event.is_base64_encoded:
        return event.body or ""
    try:
        return event.decoded_body or ""
    except ValueError as exc:  # bad base64 or not UTF-8 (UnicodeDecodeError is a ValueError)
        raise MalformedRequestError("the request body is not UTF-8 text", [{"field": "body"}]) from exc


def _component_id(value: str) -> str:
    pattern, rule = PATH_PARAMETERS["component_id"]
    if not re.match(pattern, value):
        raise InvalidFieldError("component_id", rule)
    return value


def _incident(pair: IncidentWithUpdates, components: dict[str, Any] | None = None) -> dict[str, Any]:
    incident, updates = pair
    if components is None:
        components = {c.id: c for c in service.list_components()} if incident.component_ids else {}
    return incident_object(incident, updates, components, settings)


# --- components ---------------------------------------------------------------

@api.route("GET", "/v1/components", "List components")
def list_components() -> dict[str, Any]:
    page_id = settings.effective_page_id
    return {"components": [component_object(c, page_id) for c in service.list_components()]}


@api.route("PUT", "/v1/components/<component_id>", "Create (201) or replace (200) a component", body=ComponentPut,
           status=(201, 200))
def put_component(component_id: str) -> Response[str]:
    request = parse_body(ComponentPut, _body())
    component, created = service.put_component(_component_id(component_id), request)
    return _json(201 if created else 200, component_object(component, settings.effective_page_id))


@api.route("PATCH", "/v1/components/<component_id>", "Change a component's status (notifies its subscribers)",
           body=ComponentPatch, errors=(404,))
def patch_component(component_id: str) -> dict[str, Any]:
    request = parse_body(ComponentPatch, _body())
    component = service.patch_component(_component_id(component_id), request)
    metrics.add_metric(name="ComponentStatusChanged", unit=MetricUnit.Count, value=1)
    return component_object(component, settings.effective_page_id)


# --- incidents ----------------------------------------------------------------

@api.route("GET", "/v1/incidents", "List incidents, newest first", query=PageQuery)
def list_incidents() -> dict[str, Any]:
    query = parse_query(PageQuery, app.current_event.query_string_parameters)
    pairs, next_cursor = service.list_incidents(query.limit, query.cursor)
    components = {c.id: c for c in service.list_components()}
    return {"incidents": [_incident(p, components) for p in pairs], "next_cursor": next_cursor}


@api.route("POST", "/v1/incidents", "Open an incident with its first update", body=IncidentCreate, status=201)
def create_incident() -> Response[str]:
    pair = service.create_incident(parse_body(IncidentCreate, _body()))
    metrics.add_metric(name="IncidentUpdatesPosted", unit=MetricUnit.Count, value=1)
    return _json(201, _incident(pair), {"Location": f"/v1/incidents/{pair[0].id}"})


@api.route("GET", "/v1/incidents/<incident_id>", "Get one incident", errors=(404,))
def get_incident(incident_id: str) -> dict[str, Any]:
    return _incident(service.get_incident(incident_id))


@api.route("POST", "/v1/incidents/<incident_id>/updates", "Post an update to an incident",
           body=UpdateCreate, status=201, errors=(404,))
def add_update(incident_id: str) -> Response[str]:
    incident, updates = service.add_update(incident_id, parse_body(UpdateCreate, _body()))
    metrics.add_metric(name="IncidentUpdatesPosted", unit=MetricUnit.Count, value=1)
    location = f"/v1/incidents/{incident_id}/updates/{updates[-1].id}"
    return _json(201, _incident((incident, updates)), {"Location": location})


@api.route("PATCH", "/v1/incidents/<incident_id>/updates/<update_id>",
           "Correct an update's text or time (notifies nobody)", body=UpdateCorrect, errors=(404, 409))
def correct_update(incident_id: str, update_id: str) -> dict[str, Any]:
    return _incident(service.correct_update(incident_id, update_id, parse_body(UpdateCorrect, _body())))


@api.route("PUT", "/v1/incidents/<incident_id>/postmortem", "Publish or correct the postmortem", body=PostmortemPut,
           errors=(404, 409))
def put_postmortem(incident_id: str) -> dict[str, Any]:
    return _incident(service.publish_postmortem(incident_id, parse_body(PostmortemPut, _body())))


# --- webhooks -------------------------------------------------------------------

@api.route("POST", "/v1/webhooks", "Register a webhook endpoint (the secret is shown only here)",
           body=f"{WEBHOOKS}:WebhookCreate", status=201)
def create_webhook() -> Response[str]:
    endpoint, secret = _webhook_service().create(parse_body(webhooks.WebhookCreate, _body()))
    return _json(201, {**endpoint.public(), "secret": secret}, {"Location": f"/v1/webhooks/{endpoint.id}"})


@api.route("GET", "/v1/webhooks", "List webhook endpoints", query=PageQuery)
def list_webhooks() -> dict[str, Any]:
    query = parse_query(PageQuery, app.current_event.query_string_parameters)
    endpoints, next_cursor = _webhook_service().list_endpoints(query.limit, query.cursor)
    return {"webhooks": [e.public() for e in endpoints], "next_cursor": next_cursor}


@api.route("GET", "/v1/webhooks/<webhook_id>", "Get a webhook endpoint", errors=(404,))
def get_webhook(webhook_id: str) -> dict[str, Any]:
    return _webhook_service().get(webhook_id).public()


@api.route("PATCH", "/v1/webhooks/<webhook_id>", "Change a webhook endpoint (status 'active' re-enables it)",
           body=f"{WEBHOOKS}:WebhookPatch", errors=(404, 409))
def update_webhook(webhook_id: str) -> dict[str, Any]:
    return _webhook_service().update(webhook_id, parse_body(webhooks.WebhookPatch, _body())).public()


@api.route("DELETE", "/v1/webhooks/<webhook_id>", "Delete a webhook endpoint", status=204, errors=(404,))
def delete_webhook(webhook_id: str) -> Response[str]:
    _webhook_service().delete(webhook_id)
    return Response(status_code=204, body="")


@api.route("POST", "/v1/webhooks/<webhook_id>/rotate-secret",
           "New signing secret; the old one keeps signing for 24 hours", status=201, errors=(404, 409))
def rotate_webhook_secret(webhook_id: str) -> Response[str]:
    endpoint, secret = _webhook_service().rotate_secret(webhook_id)
    return _json(201, {**endpoint.public(), "secret": secret})


@api.route("POST", "/v1/webhooks/<webhook_id>/test", "Send a webhook.test event", status=202, errors=(404,))
def test_webhook(webhook_id: str) -> Response[str]:
    return _json(202, {"delivery_id": _webhook_service().send_test(webhook_id)})


@api.route("GET", "/v1/webhooks/<webhook_id>/deliveries", "Deliveries, newest first, with every attempt",
           query=PageQuery, errors=(404,))
def webhook_deliveries(webhook_id: str) -> dict[str, Any]:
    query = parse_query(PageQuery, app.current_event.query_string_parameters)
    deliveries, next_cursor = _webhook_service().deliveries(webhook_id, query.limit, query.cursor)
    hidden = ("pk", "sk", "type", "expires_at", "lease_until")
    shown = [{k: v for k, v in d.items() if k not in hidden} for d in deliveries]
    return {"deliveries": shown, "next_cursor": next_cursor}


@api.route("POST", "/v1/webhooks/<webhook_id>/replay", "Re-send what failed since a time",
           body=f"{WEBHOOKS}:ReplayRequest", status=202, errors=(404,))
def replay_webhook(webhook_id: str) -> Response[str]:
    request = parse_body(webhooks.ReplayRequest, _body())
    return _json(202, {"replayed": _webhook_service().replay(webhook_id, request)})


# --- email subscriptions (public) ----------------------------------------------------
# Answers are HTML pages for browsers (the subscribe form and the links in
# emails), JSON for API clients of POST /v1/subscriptions. Pages that carry a
# token in their URL are never cached and never leak it in a Referer.

# The routes behind the links in emails: HTML pages, 4xx included (a bad, stale or expired link).
LINK_PAGE: dict[str, Any] = {"public": True, "query": f"{SUBSCRIPTIONS}:TokenQuery", "answers": (openapi.HTML,),
                             "errors": (404, 409, 410)}
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def _html(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=pages.HTML_TYPE, body=body, headers=dict(PAGE_HEADERS))


def _is_form() -> bool:
    headers = app.current_event.headers
    content_type = headers.get("content-type") or headers.get("Content-Type") or ""
    return content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def _token() -> str | None:
    token = (app.current_event.query_string_parameters or {}).get("token")
    if not token and _is_form():
        token = (email_subscriptions.form_fields(_body()).get("token") or [None])[0]
    return token


def _token_page(render: Any) -> Response[str]:
    """Run a token route; a bad, expired or stale link is an HTML page with its 4xx status."""
    try:
        status, body = render()
        return _html(status, body)
    except email_tokens.ExpiredTokenError as exc:
        return _html(exc.status, pages.expired_page(settings))
    except NotFoundError as exc:
        return _html(exc.status, pages.message_page(settings, "Subscription not found",
                                                    "This subscription no longer exists. Subscribe again if you like."))
    except ConflictError as exc:
        return _html(exc.status, pages.message_page(settings, "This link no longer works", exc.message))
    except DomainError as exc:
        if exc.status >= 500:
            raise
        return _html(exc.status, pages.message_page(settings, "This link is not valid",
                                                    "Use the link from the newest email we sent you."))


@api.route("POST", "/v1/subscriptions", "Subscribe an address (202 whatever the address; a confirmation mail follows)",
           body=f"{SUBSCRIPTIONS}:SubscribeRequest", status=202, public=True, errors=(429,),
           answers=(openapi.JSON, openapi.HTML), form=True)
def subscribe() -> Response[str]:
    form = _is_form()
    body = _body()
    model = email_subscriptions.SubscribeRequest
    request = parse_form(model, email_subscriptions.form_fields(body), ("components",)) if form \
        else parse_body(model, body)
    _subscriptions().accept(request, app.current_event.request_context.identity.source_ip or "unknown")
    metrics.add_metric(name="SubscribeRequests", unit=MetricUnit.Count, value=1)
    if form:
        return _html(202, pages.check_inbox_page(settings))
    return _json(202, {"status": "accepted", "message": "If the address can receive email, a confirmation link "
                                                       "is on its way. Nothing is sent until it is confirmed."})


@api.route("GET", "/v1/subscriptions/confirm", "The confirm page (a button; GET changes nothing)", **LINK_PAGE)
def confirm_form() -> Response[str]:
    token = _token()
    return _token_page(lambda: (200, pages.confirm_page(settings, token or "",
                                                        email=_subscriptions().pending(token).email)))


@api.route("POST", "/v1/subscriptions/confirm", "Confirm a subscription", **LINK_PAGE)
def confirm() -> Response[str]:
    token = _token()
    return _token_page(lambda: (200, pages.confirmed_page(settings) if _subscriptions().confirm(token) else ""))


@api.route("GET", "/v1/subscriptions/manage", "The subscriber's components", **LINK_PAGE)
def manage_form() -> Response[str]:
    token = _token()

    def render() -> tuple[int, str]:
        subscriber = _subscriptions().managed(token)
        return 200, pages.manage_page(settings, token or "", service.list_components(), subscriber.components,
                                      email=subscriber.email)

    return _token_page(render)


@api.route("POST", "/v1/subscriptions/manage", "Save the subscriber's components",
           body=f"{SUBSCRIPTIONS}:ManageRequest", form=True, **LINK_PAGE)
def manage() -> Response[str]:
    token = _token()

    def render() -> tuple[int, str]:
        body = _body()
        model = email_subscriptions.ManageRequest
        request = parse_form(model, email_subscriptions.form_fields(body), ("components",)) \
            if _is_form() else parse_body(model, body)
        _subscriptions().save_components(token, request)
        return 200, pages.saved_page(settings)

    return _token_page(render)


@api.route("GET", "/v1/subscriptions/unsubscribe", "The unsubscribe page (a button; GET changes nothing)",
           **LINK_PAGE)
def unsubscribe_form() -> Response[str]:
    token = _token()

    def render() -> tuple[int, str]:
        subscriber = _subscriptions().check_unsubscribe(token)
        return 200, pages.unsubscribe_page(settings, token or "", email=subscriber.email if subscriber else None)

    return _token_page(render)


@api.route("POST", "/v1/subscriptions/unsubscribe", "RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click)",
           **LINK_PAGE)
def unsubscribe() -> Response[str]:
    token = _token()

    def render() -> tuple[int, str]:
        _subscriptions().unsubscribe(token)
        return 200, pages.unsubscribed_page(settings)

    return _token_page(render)


# --- subscribers (staff) ------------------------------------------------------------

@api.route("GET", "/v1/subscribers", "List email subscribers, newest first (filter by state)",
           query=f"{SUBSCRIPTIONS}:SubscriberQuery")
def list_subscribers() -> dict[str, Any]:
    query = parse_query(email_subscriptions.SubscriberQuery, app.current_event.query_string_parameters)
    found, next_cursor = _subscriptions().list(query)
    return {"subscribers": [s.public() for s in found], "next_cursor": next_cursor}


@api.route("DELETE", "/v1/subscribers/<subscriber_id>", "Delete a subscriber (and its suppression)", status=204,
           errors=(404,))
def delete_subscriber(subscriber_id: str) -> Response[str]:
    _subscriptions().delete(subscriber_id)
    return Response(status_code=204, body="")


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi.document(api))


@app.get("/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
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
