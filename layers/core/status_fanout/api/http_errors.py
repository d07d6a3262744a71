"""The API's edge: the gates every request passes before its route (staff
token, role and size, then Idempotency-Key), the audit entry of each staff
write and of each refusal (docs/staff-keys.md), and the one place that turns
errors into HTTP answers, in the shape of docs/contract.md §5.5."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from status_fanout import audit
from status_fanout.api import roles
from status_fanout.api.auth import ForbiddenError, UnauthorizedError, authenticate, hash_token
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

if TYPE_CHECKING:
    from status_fanout.api.routing import Api
    from status_fanout.dynamo import Store

MAX_REQUEST_BYTES = 256 * 1024
# Routes allowed a larger body (API Gateway takes 10 MB, a Lambda event 6 MB):
# a subscriber import of 10,000 CSV rows is ~0.5 MB (docs/subscriber-import.md).
ROUTE_MAX_REQUEST_BYTES = {("POST", "/v1/subscribers/import"): 2 * 1024 * 1024}
PUBLIC_PREFIXES = ("/v1/subscriptions",)
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
UNROUTABLE = "/\x00"


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=dumps(body).decode(), headers=headers or {})


def is_staff_route(path: str) -> bool:
    return path.startswith("/v1/") and not path.startswith(PUBLIC_PREFIXES)


def authorization_header(event: APIGatewayProxyEvent) -> str:
    return event.headers.get("authorization") or event.headers.get("Authorization") or ""


def check_size(event: APIGatewayProxyEvent) -> None:
    body = event.body or ""
    limit = ROUTE_MAX_REQUEST_BYTES.get((event.http_method, event.path), MAX_REQUEST_BYTES)
    if len(body.encode("utf-8", "surrogatepass")) > limit:
        raise PayloadTooLargeError(f"request bodies are limited to {limit} bytes")


def refuse(app: APIGatewayRestResolver, settings: Settings, db: Store, context: audit.AuditContext) -> None:
    """Raise the error a staff request gets before its body is even considered:
    401 without a valid token, 403 below the route's role (or on a staff route
    the role table lacks: fail closed), 413 over the size limit."""
    event = app.current_event
    context.principal = authenticate(authorization_header(event), settings.staff_token_sha256, db)
    route = app.context.get("_route")
    # Powertools routes an unmatched request through a catch-all route (our
    # not_found then answers 404 or 422): it alone matches a path no route can.
    if route is not None and not route.rule.match(UNROUTABLE):
        needed = roles.required_role(event.http_method, route.path)
        if needed is None:
            raise ForbiddenError("no role may call this route (it is missing from the role table)",
                                 [{"field": "role", "message": "no role"}])
        if not roles.allows(context.principal.role, needed):
            raise ForbiddenError(f"this route needs the {needed} role; this key has the {context.principal.role} role",
                                 [{"field": "role", "message": f"needs {needed}"}])
    check_size(event)


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

    ran = False

    def run() -> dict[str, Any]:
        nonlocal ran
        ran = True
        response = next_middleware(app)
        return {"status": response.status_code, "body": response.body, "headers": dict(response.headers)}

    scope = hash_token(authorization_header(event))[:16]
    first = idempotency.run_once(f"{scope} POST {event.path}", key, event.body or "", run)
    context = audit.CURRENT.get()
    if context is not None and not ran:
        context.replayed = True  # its audit entry says so: this request changed nothing
    return Response(status_code=first["status"], body=first["body"], headers=first["headers"])


def open_context(app: APIGatewayRestResolver) -> audit.AuditContext:
    """The audit context of the staff request being routed: what API Gateway
    says of it (request id, source IP) and the route's main path parameter."""
    event = app.current_event
    request = event.raw_event.get("requestContext") or {}
    identity = request.get("identity") or {}
    parameters = app.context.get("_route_args") or {}
    target = next(iter(parameters.values()), None)
    return audit.AuditContext(event.http_method, event.path, request.get("requestId"), identity.get("sourceIp"),
                              target)


def created_id(response: Response[Any]) -> str | None:
    """What a create without a transaction (a webhook endpoint) made: its answer's `id`."""
    try:
        document = json.loads(response.body) if isinstance(response.body, str | bytes) else response.body
    except ValueError:
        return None
    found = document.get("id") or document.get("key_id") if isinstance(document, dict) else None
    return found if isinstance(found, str) else None


def settle(db: Store, context: audit.AuditContext, status: int) -> None:
    """Write the request's entry unless its transaction did (then only correct
    its status, should the route have answered another success than foreseen)."""
    if context.written_status is not None:
        if status != context.written_status or context.counts is not None:
            audit.correct_status(db, context, status)
    elif context.is_write or status in (401, 403):
        audit.record(db, context, status)


def install(api: Api, settings: Settings, db: Store) -> None:
    """The gates, in this order, in front of every route, and the error mapping
    (`register`). `db` is the table the staff keys and the audit log live in."""
    app = api.resolver
    statuses: dict[tuple[str, str], int] = {}

    def staff_gate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        event = app.current_event
        if not is_staff_route(event.path):
            check_size(event)
            return next_middleware(app)
        if not statuses:  # the routers are included after install
            statuses.update({(r.method, r.rule): r.status[0] for r in api.routes})
        context = open_context(app)
        route = app.context.get("_route")
        context.expected_status = statuses.get((event.http_method, getattr(route, "path", "")), 200)
        token = audit.CURRENT.set(context)
        status = 500
        try:
            refuse(app, settings, db, context)
            response = next_middleware(app)
            status = response.status_code
            if context.target is None and context.written_status is None and 200 <= status < 300:
                context.target = created_id(response)
            return response
        except DomainError as exc:
            status = exc.status
            raise
        finally:
            audit.CURRENT.reset(token)
            settle(db, context, status)

    app.use(middlewares=[staff_gate, idempotency_gate])
    register(app)
