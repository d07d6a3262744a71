"""The api's OpenAPI document and Swagger UI, built on their first request
from the routes the routers recorded (status_fanout.api.routing): a validating
Powertools resolver that exists only for that knows parameters and bodies;
`_refine` then writes what only we know: every status a route answers (its
gates' included), the error shape, content types, path patterns and the
Idempotency-Key header. Imported by the first request for /openapi.json or
/docs, never at cold start.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel

from status_fanout.api.routing import CSV, FORM, HTML, JSON, Api, ModelRef, Route

TITLE = "status-fanout API"
VERSION = "1"
DESCRIPTION = (
    "Staff routes need `Authorization: Bearer <token>` of a role at least their `x-staff-role` "
    "(viewer < responder < admin). Errors are "
    '`{"error": {"code", "message", "details"}}`; POSTs honour `Idempotency-Key`.'
)


def _model(ref: ModelRef) -> type[BaseModel]:
    if isinstance(ref, str):
        module, name = ref.split(":")
        model: type[BaseModel] = getattr(importlib.import_module(module), name)
        return model
    return ref


def _documenting_stub(route: Route) -> Callable[..., Any]:
    from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

    params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path()])
        for name in re.findall(r"<(\w+)>", route.rule)
    ]
    if route.query is not None:
        for name, field in _model(route.query).model_fields.items():
            annotation = Annotated[(field.annotation, Query(description=field.description), *field.metadata)]  # type: ignore[name-defined]
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                            default=field.default))
    if route.body is not None:
        params.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Annotated[_model(route.body), Body(embed=False)]))

    def stub(**_: Any) -> dict[str, Any]:  # never called: it only carries a signature
        return {}

    stub.__signature__ = inspect.Signature(params, return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    stub.__name__ = f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.rule.lower()).strip('_')}"
    return stub


# The error shape of docs/contract.md §5.5, which every 4xx and 5xx JSON answer has.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}}}},
        },
    }},
}
ERRORS = {
    400: "Malformed request: body, cursor, link token or Idempotency-Key",
    401: "No or bad staff token",
    403: "The key's role may not call this route (`details` name the role needed)",
    404: "Not found",
    409: "Conflict: changed concurrently, or a request with this Idempotency-Key is still running",
    410: "The link has expired",
    413: "The request body is over 256 KiB (2 MiB and 10,000 rows for an import)",
    422: "Invalid field; `details` name each one",
    429: "Throttled; see Retry-After",
}
SUCCESS_SCHEMAS: dict[str, dict[str, Any]] = {JSON: {"type": "object"}, HTML: {"type": "string"},
                                               CSV: {"type": "string"}}


def error_statuses(route: Route) -> list[int]:
    """The route's own 4xx plus those of the gates in front of it (auth, size, body, query, Idempotency-Key)."""
    codes = set(route.errors)
    if not route.public:
        codes |= {401, 403}
    if route.method in ("POST", "PUT", "PATCH"):
        codes.add(413)
    if route.method == "POST":
        codes |= {400, 409, 422}  # a malformed Idempotency-Key; the same key in flight; reused with another body
    if route.body is not None or route.query is not None:
        codes |= {400, 422}
    return sorted(codes)


def _responses(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for code in route.status:
        responses[str(code)] = {"description": "No content"} if code == 204 else {
            "description": "Success", "content": {t: {"schema": SUCCESS_SCHEMAS[t]} for t in route.answers}}
    # A route that answers only with pages (the links in emails) shows its own 4xx as pages too;
    # the gates in front of it still answer JSON.
    pages = route.answers == (HTML,)
    for code in error_statuses(route):
        content: dict[str, Any] = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
        if pages:
            content[HTML] = {"schema": SUCCESS_SCHEMAS[HTML]}
        responses[str(code)] = {"description": ERRORS[code], "content": content}
    return responses


def _refine(doc: dict[str, Any], api: Api) -> dict[str, Any]:
    """What Powertools cannot say: our responses and error shape, path patterns, form bodies, Idempotency-Key."""
    from status_fanout.api.http_errors import IDEMPOTENCY_KEY
    from status_fanout.api.roles import required_role
    from status_fanout.incidents.models import PATH_PARAMETERS

    for route in api.routes:
        operation = doc["paths"][re.sub(r"<(\w+)>", r"{\1}", route.rule)][route.method.lower()]
        operation["responses"] = _responses(route)
        if not route.public:
            # The least role that may call it (docs/staff-keys.md); none: every key is refused.
            operation["x-staff-role"] = required_role(route.method, route.rule)
        parameters = operation.setdefault("parameters", [])
        for parameter in parameters:
            if parameter["in"] == "path" and parameter["name"] in PATH_PARAMETERS:
                parameter["schema"]["pattern"] = PATH_PARAMETERS[parameter["name"]][0]
        if route.method == "POST":
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "description": "A repeat with the same key returns the first answer",
                               "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern}})
        if not parameters:
            del operation["parameters"]
        if route.form and "requestBody" in operation:
            content = operation["requestBody"]["content"]
            content[FORM] = dict(content[JSON])
        if route.csv and "requestBody" in operation:
            operation["requestBody"]["content"][CSV] = {"schema": {
                "type": "string", "description": "a header row (email, components, state, created), then one "
                                                 "subscriber a line; components separated by ;"}}
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):  # Powertools' own errors
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    return doc


@functools.cache
def document(api: Api) -> str:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    docs = APIGatewayRestResolver(enable_validation=True)
    for route in api.routes:
        docs.route(route.rule, route.method, summary=route.summary,
                   security=None if route.public else [{"staffToken": []}])(_documenting_stub(route))
    generated = docs.get_openapi_json_schema(
        title=TITLE, version=VERSION, description=DESCRIPTION, security_schemes={"staffToken": HTTPBearer()}
    )
    return json.dumps(_refine(json.loads(generated), api), indent=2)


@functools.cache
def swagger_html(api: Api) -> str:
    import aws_lambda_powertools.event_handler.openapi.swagger_ui as swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    # Inlined from the Powertools package: the page loads nothing from a CDN.
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    spec = document(api).replace("</", "<\\/")
    return generate_swagger_html(spec, js, css, "", None, False)
