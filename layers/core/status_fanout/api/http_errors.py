"""The API's edge: the gates every request passes before its route (staff
token and size, then Idempotency-Key), and the one place that turns errors
into HTTP answers, in the shape of docs/contract.md §5.5."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from status_fanout.api.auth import UnauthorizedError, check_bearer, hash_token
from status_fanout.errors import (
    DomainError,
    InvalidFieldError,
    MalformedRequestError,
    PayloadTooLargeError,
    TooManyRequestsError,
)
from status_fanout.incidents.models import PATH_PARAMETERS
from status_fanout.observability import logger
from status_fanout.publishing.public_json import dumps
from status_fanout.settings import Settings

MAX_REQUEST_BYTES = 256 * 1024
# Routes allowed a larger body (API Gateway takes 10 MB, a Lambda event 6 MB):
# a subscriber import of 10,000 CSV rows is ~0.5 MB (docs/subscriber-import.md).
ROUTE_MAX_REQUEST_BYTES = {("POST", "/v1/subscribers/import"): 2 * 1024 * 1024}
PUBLIC_PREFIXES = ("/v1/subscriptions",)
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=dumps(body).decode(), headers=headers or {})


def is_staff_route(path: str) -> bool:
    return path.startswith("/v1/") and not path.startswith(PUBLIC_PREFIXES)


def authorization_header(event: APIGatewayProxyEvent) -> str:
    return event.headers.get("authorization") or event.headers.get("Authorization") or ""


def refuse(event: APIGatewayProxyEvent, settings: Settings) -> None:
    """Raise the error a request gets before its body is even considered."""
    if is_staff_route(event.path):
        check_bearer(authorization_header(event), settings.staff_token_sha256)
    body = event.body or ""
    limit = ROUTE_MAX_REQUEST_BYTES.get((event.http_method, event.path), MAX_REQUEST_BYTES)
    if len(body.encode("utf-8", "surrogatepass")) > limit:
        raise PayloadTooLargeError(f"request bodies are limited to {limit} bytes")


def check_idempotency_key(key: str) -> None:
    if not IDEMPOTENCY_KEY.match(key):
        raise MalformedRequestError(
            "Idempotency-Key must be 1-255 visible ASCII characters", [{"field": "Idempotency-Key"}]
        )


def check_path_parameters(event: APIGatewayProxyEvent) -> None:
    for name, value in (event.path_parameters or {}).items():
        if name in PATH_PARAMETERS and not re.match(PATH_PARAMETERS[name][0], value):
            raise InvalidFieldError(name, PATH_PARAMETERS[name][1])


def register(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(DomainError)
    def domain_error(exc: DomainError) -> Response[str]:
        headers = {}
        if isinstance(exc, UnauthorizedError):
            headers["WWW-Authenticate"] = 'Bearer realm="status-fanout"'
        if isinstance(exc, TooManyRequestsError):
            headers["Retry-After"] = str(exc.retry_after)
        return respond(exc.status, error_body(exc.code, exc.message, exc.details), headers)

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        # API Gateway routes by resource template, so a request the resolver does
        # not match has a path parameter with characters its patterns leave out
        # (controls, quotes, ...): an invalid slug (422) or an unknown id (404).
        # The global middlewares (the staff gate) have run before this.
        try:
            check_path_parameters(app.current_event)
        except DomainError as exc:
            return domain_error(exc)
        return respond(404, error_body("not_found", "no such route"))

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return respond(500, error_body("internal_error", "something went wrong on our side"))


def idempotency_gate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    event = app.current_event
    key = event.headers.get("idempotency-key") or event.headers.get("Idempotency-Key")
    if event.http_method != "POST" or not key:
        return next_middleware(app)
    check_idempotency_key(key)
    from status_fanout.api import idempotency  # only requests with the header pay for it

    def run() -> dict[str, Any]:
        response = next_middleware(app)
        return {"status": response.status_code, "body": response.body, "headers": dict(response.headers)}

    scope = hash_token(authorization_header(event))[:16]
    first = idempotency.run_once(f"{scope} POST {event.path}", key, event.body or "", run)
    return Response(status_code=first["status"], body=first["body"], headers=first["headers"])


def install(app: APIGatewayRestResolver, settings: Settings) -> None:
    """The gates, in this order, in front of every route, and the error mapping (`register`)."""

    def staff_gate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        refuse(app.current_event, settings)
        return next_middleware(app)

    app.use(middlewares=[staff_gate, idempotency_gate])
    register(app)
