"""The API's edge: auth and size gates, and every error in the SPEC's shape.

Powertools validates the body before any middleware runs, so the gates are
also consulted when validation fails: an unauthenticated or oversized request
gets its 401/413, never a 422 describing the schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from .auth import UnauthorizedError, check_bearer
from .errors import DomainError
from .observability import logger
from .settings import Settings

MAX_REQUEST_BYTES = 256 * 1024
PUBLIC_PREFIXES = ("/v1/subscriptions",)
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class PayloadTooLargeError(DomainError):
    status = 413
    code = "payload_too_large"


class MalformedRequestError(DomainError):
    status = 400
    code = "malformed_request"


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, ensure_ascii=False), headers=headers or {})


def is_staff_route(path: str) -> bool:
    return path.startswith("/v1/") and not path.startswith(PUBLIC_PREFIXES)


def authorization_header(event: APIGatewayProxyEvent) -> str:
    return event.headers.get("authorization") or event.headers.get("Authorization") or ""


def refuse(event: APIGatewayProxyEvent, settings: Settings) -> None:
    """Raise the error a request must get before its body is even considered."""
    if is_staff_route(event.path):
        check_bearer(authorization_header(event), settings.staff_token_sha256)
    body = event.body or ""
    if len(body.encode("utf-8", "surrogatepass")) > MAX_REQUEST_BYTES:
        raise PayloadTooLargeError(f"request bodies are limited to {MAX_REQUEST_BYTES} bytes")


def check_idempotency_key(key: str) -> None:
    if not IDEMPOTENCY_KEY.match(key):
        raise MalformedRequestError(
            "Idempotency-Key must be 1-255 visible ASCII characters", [{"field": "Idempotency-Key"}]
        )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "[key]")]
    return ".".join(parts) or "body"


def register(app: APIGatewayRestResolver, settings: Settings) -> None:
    @app.exception_handler(DomainError)
    def domain_error(exc: DomainError) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="status-fanout"'} if isinstance(exc, UnauthorizedError) else {}
        return _respond(exc.status, error_body(exc.code, exc.message, exc.details), headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response:
        try:
            refuse(app.current_event, settings)
        except DomainError as gate:
            return domain_error(gate)
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _respond(400, error_body("malformed_json", "the request body is not valid JSON"))
        details = [
            {"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid"), "type": e.get("type")}
            for e in errors
        ]
        where = "query" if any(e.get("loc", ("",))[0] in ("query", "path") for e in errors) else "body"
        message = "invalid " + ", ".join(sorted({d["field"] for d in details})) if details else f"invalid {where}"
        return _respond(422, error_body("invalid_field", message, details))

    @app.not_found
    def not_found(_: Exception) -> Response:
        return _respond(404, error_body("not_found", "no such route"))

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return _respond(500, error_body("internal_error", "something went wrong on our side"))
