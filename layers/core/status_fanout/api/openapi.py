"""Request parsing for the API, and its OpenAPI document and Swagger UI.

The runtime resolver does not use Powertools' request validation: it imports
the OpenAPI machinery (~100 ms) into every cold start and builds validators on
the first request. Routes parse their body, query and form with our pydantic
models instead (`parse_body`, `parse_query`, `parse_form`). They register on a
`DocumentedRouter` through `operation`, which records them; `Api.include`
routes a router's routes and keeps its records, in order, so that `document`
can build the OpenAPI document on demand with a validating Powertools resolver
that exists only for that. Powertools knows parameters and bodies; `_refine`
then writes what only we know: every status a route answers (its gates'
included), the error shape, content types, path patterns and the
Idempotency-Key header.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ValidationError

from status_fanout.errors import InvalidRequestError, MalformedRequestError

TITLE = "status-fanout API"
VERSION = "1"
DESCRIPTION = (
    "Staff routes need `Authorization: Bearer <token>`. Errors are "
    '`{"error": {"code", "message", "details"}}`; POSTs honour `Idempotency-Key`.'
)
M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
# A model, or "package.module:Model" for one whose module should load only when
# its route is first called or the document is built, not at cold start.
ModelRef = type[BaseModel] | str


JSON = "application/json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    summary: str
    body: ModelRef | None
    query: ModelRef | None
    status: tuple[int, ...]  # every success status the route answers with
    public: bool
    errors: tuple[int, ...]  # its own 4xx, besides those of the gates every route of its kind passes
    answers: tuple[str, ...]  # the media types of its answers (HTML pages also carry their 4xx)
    form: bool  # takes a form-encoded body as well as JSON


class DocumentedRouter(Router):
    """A Powertools Router plus the record of what each of its routes accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[Route] = []

    @property
    def event(self) -> APIGatewayProxyEvent:
        """The request being routed (`Api` includes routers in a REST resolver)."""
        return cast(APIGatewayProxyEvent, self.current_event)

    def operation(self, method: str, rule: str, summary: str, *, body: ModelRef | None = None,
                  query: ModelRef | None = None, status: int | tuple[int, ...] = 200, public: bool = False,
                  errors: tuple[int, ...] = (), answers: tuple[str, ...] = (JSON,),
                  form: bool = False) -> Callable[[F], F]:
        statuses = (status,) if isinstance(status, int) else status

        def register(func: F) -> F:
            self.operations.append(Route(method, rule, summary, body, query, statuses, public, errors, answers, form))
            self.route(rule, method, include_in_schema=False)(func)
            return func

        return register


class Api:
    """A Powertools resolver plus the record of what each of its routes accepts."""

    def __init__(self) -> None:
        self.resolver = APIGatewayRestResolver()
        self.routes: list[Route] = []

    def include(self, router: DocumentedRouter) -> None:
        """Route the router's routes after those already included (Powertools
        tries routes in that order), and document them in that order too."""
        self.resolver.include_router(router)
        self.routes.extend(router.operations)


def _invalid(exc: ValidationError, prefix: tuple[str, ...] = ()) -> InvalidRequestError:
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in (*prefix, *error["loc"]) if p != "[key]") or "body"
        details.append({"field": field, "message": error["msg"], "type": error["type"]})
    fields = ", ".join(sorted({d["field"] for d in details}))
    return InvalidRequestError(f"invalid {fields}", details)


def parse_body(model: type[M], raw: str | None) -> M:
    try:
        data = json.loads(raw or "")
    except ValueError as exc:
        raise MalformedRequestError("the request body is not valid JSON", [{"field": "body"}]) from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object", [{"field": "body"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def parse_query(model: type[M], params: dict[str, str] | None) -> M:
    try:
        return model.model_validate(params or {})
    except ValidationError as exc:
        raise _invalid(exc) from exc


def parse_form(model: type[BaseModel], fields: Mapping[str, list[str]], lists: Iterable[str]) -> Any:
    """A form-encoded body as `model`: repeated fields in `lists`, others the first value.
    The link token of the subscription pages is not a field of their models."""
    data: dict[str, Any] = {k: (v if k in lists else v[0]) for k, v in fields.items() if k != "token"}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def body_text(event: APIGatewayProxyEvent) -> str:
    """The request body as text. The front door base64-encodes a body that is not
    UTF-8; that is a malformed request, not an unexpected error."""
    if not event.is_base64_encoded:
        return event.body or ""
    try:
        return event.decoded_body or ""
    except ValueError as exc:  # bad base64 or not UTF-8 (UnicodeDecodeError is a ValueError)
        raise MalformedRequestError("the request body is not UTF-8 text", [{"field": "body"}]) from exc


# --- documentation, built on first request -----------------------------------

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
    404: "Not found",
    409: "Conflict: changed concurrently, or a request with this Idempotency-Key is still running",
    410: "The link has expired",
    413: "The request body is over 256 KiB",
    422: "Invalid field; `details` name each one",
    429: "Throttled; see Retry-After",
}
SUCCESS_SCHEMAS: dict[str, dict[str, Any]] = {JSON: {"type": "object"}, HTML: {"type": "string"}}


def error_statuses(route: Route) -> list[int]:
    """The route's own 4xx plus those of the gates in front of it (auth, size, body, query, Idempotency-Key)."""
    codes = set(route.errors)
    if not route.public:
        codes.add(401)
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
    from status_fanout.incidents.models import PATH_PARAMETERS

    for route in api.routes:
        operation = doc["paths"][re.sub(r"<(\w+)>", r"{\1}", route.rule)][route.method.lower()]
        operation["responses"] = _responses(route)
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
