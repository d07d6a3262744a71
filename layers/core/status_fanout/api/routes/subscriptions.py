"""Public routes of email subscriptions: subscribe, and the pages behind the
links in emails (confirm, manage, unsubscribe). The email machinery (service,
store, tokens, models) and the pages (Jinja2) load on the first request of
one of them.

Answers are HTML pages for browsers (the subscribe form and the links in
emails), JSON for API clients of POST /v1/subscriptions. Pages that carry a
token in their URL are never cached and never leak it in a Referer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit

from status_fanout.api.http_errors import respond
from status_fanout.api.lazy import Lazy, Services
from status_fanout.api.routing import FORM, HTML, JSON, DocumentedRouter, body_text, parse_body, parse_form
from status_fanout.errors import ConflictError, DomainError, NotFoundError
from status_fanout.observability import metrics

# The routes name their body and query models as "module:Model": /openapi.json loads them when it is first built.
SUBSCRIPTIONS = "status_fanout.email.subscriptions"
if TYPE_CHECKING:  # mypy sees the modules themselves
    from status_fanout.email import subscriptions as email_subscriptions
    from status_fanout.email import tokens as email_tokens
    from status_fanout.publishing import pages
else:
    email_subscriptions = Lazy(SUBSCRIPTIONS)
    email_tokens = Lazy("status_fanout.email.tokens")
    pages = Lazy("status_fanout.publishing.pages")

# The routes behind the links in emails: HTML pages, 4xx included (a bad, stale or expired link).
LINK_PAGE: dict[str, Any] = {"public": True, "query": f"{SUBSCRIPTIONS}:TokenQuery", "answers": (HTML,),
                             "errors": (404, 409, 410)}
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


def _html(status: int, body: str) -> Response[str]:
    return Response(status_code=status, content_type=pages.HTML_TYPE, body=body, headers=dict(PAGE_HEADERS))


def router(services: Services) -> DocumentedRouter:
    settings = services.settings
    routes = DocumentedRouter()

    def is_form() -> bool:
        headers = routes.event.headers
        content_type = headers.get("content-type") or headers.get("Content-Type") or ""
        return content_type.split(";")[0].strip().lower() == FORM

    def token() -> str | None:
        found = (routes.event.query_string_parameters or {}).get("token")
        if not found and is_form():
            tokens = email_subscriptions.form_fields(body_text(routes.event)).get("token")
            found = tokens[0] if tokens else None
        return found

    def token_page(render: Callable[[], tuple[int, str]]) -> Response[str]:
        """Run a token route; a bad, expired or stale link is an HTML page with its 4xx status."""
        try:
            status, body = render()
            return _html(status, body)
        except email_tokens.ExpiredTokenError as exc:
            return _html(exc.status, pages.expired_page(settings))
        except NotFoundError as exc:
            text = "This subscription no longer exists. Subscribe again if you like."
            return _html(exc.status, pages.message_page(settings, "Subscription not found", text))
        except ConflictError as exc:
            return _html(exc.status, pages.message_page(settings, "This link no longer works", exc.message))
        except DomainError as exc:
            if exc.status >= 500:
                raise
            text = "Use the link from the newest email we sent you."
            return _html(exc.status, pages.message_page(settings, "This link is not valid", text))

    @routes.operation("POST", "/v1/subscriptions",
                      "Subscribe an address (202 whatever the address; a confirmation mail follows)",
                      body=f"{SUBSCRIPTIONS}:SubscribeRequest", status=202, public=True, errors=(429,),
                      answers=(JSON, HTML), form=True)
    def subscribe() -> Response[str]:
        form = is_form()
        body = body_text(routes.event)
        model = email_subscriptions.SubscribeRequest
        request = parse_form(model, email_subscriptions.form_fields(body), ("components",)) if form \
            else parse_body(model, body)
        services.subscriptions.accept(request, routes.event.request_context.identity.source_ip or "unknown")
        metrics.add_metric(name="SubscribeRequests", unit=MetricUnit.Count, value=1)
        if form:
            return _html(202, pages.check_inbox_page(settings))
        return respond(202, {"status": "accepted", "message": "If the address can receive email, a confirmation link "
                                                              "is on its way. Nothing is sent until it is confirmed."})

    @routes.operation("GET", "/v1/subscriptions/confirm", "The confirm page (a button; GET changes nothing)",
                      **LINK_PAGE)
    def confirm_form() -> Response[str]:
        link = token()
        return token_page(lambda: (200, pages.confirm_page(settings, link or "",
                                                           email=services.subscriptions.pending(link).email)))

    @routes.operation("POST", "/v1/subscriptions/confirm", "Confirm a subscription", **LINK_PAGE)
    def confirm() -> Response[str]:
        link = token()
        return token_page(lambda: (200, pages.confirmed_page(settings) if services.subscriptions.confirm(link) else ""))

    @routes.operation("GET", "/v1/subscriptions/manage", "The subscriber's components", **LINK_PAGE)
    def manage_form() -> Response[str]:
        link = token()

        def render() -> tuple[int, str]:
            subscriber = services.subscriptions.managed(link)
            return 200, pages.manage_page(settings, link or "", services.incidents.list_components(),
                                          subscriber.components, email=subscriber.email)

        return token_page(render)

    @routes.operation("POST", "/v1/subscriptions/manage", "Save the subscriber's components",
                      body=f"{SUBSCRIPTIONS}:ManageRequest", form=True, **LINK_PAGE)
    def manage() -> Response[str]:
        link = token()

        def render() -> tuple[int, str]:
            body = body_text(routes.event)
            model = email_subscriptions.ManageRequest
            request = parse_form(model, email_subscriptions.form_fields(body), ("components",)) if is_form() \
                else parse_body(model, body)
            services.subscriptions.save_components(link, request)
            return 200, pages.saved_page(settings)

        return token_page(render)

    @routes.operation("GET", "/v1/subscriptions/unsubscribe", "The unsubscribe page (a button; GET changes nothing)",
                      **LINK_PAGE)
    def unsubscribe_form() -> Response[str]:
        link = token()

        def render() -> tuple[int, str]:
            subscriber = services.subscriptions.check_unsubscribe(link)
            return 200, pages.unsubscribe_page(settings, link or "", email=subscriber.email if subscriber else None)

        return token_page(render)

    @routes.operation("POST", "/v1/subscriptions/unsubscribe",
                      "RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click)", **LINK_PAGE)
    def unsubscribe() -> Response[str]:
        link = token()

        def render() -> tuple[int, str]:
            services.subscriptions.unsubscribe(link)
            return 200, pages.unsubscribed_page(settings)

        return token_page(render)

    return routes
