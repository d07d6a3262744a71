"""Request parsing for the API, and its OpenAPI document and Swagger UI.

The runtime resolver does not use Powertools' request validation: it imports
the OpenAPI machinery (~100 ms) into every cold start and builds validators on
the first request. Routes parse their body and query with our pydantic models
instead (`parse_body`, `parse_query`), and register through `route`, which
records them so that `document` can build the OpenAPI document on demand with
a validating Powertools resolver that exists only for that.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel, ValidationError

from .errors import InvalidRequestError, MalformedRequestError

TITLE = "status-fanout API"
VERSION = "1"
DESCRIPTION = (
    "Staff routes need `Authorization: Bearer <token>`. Errors are "
    '`{"error": {"code", "message", "details"}}`; POSTs honour `Idempotency-Key`.'
)
M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    summary: str
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    status: int
    public: bool


class Api:
    """A Powertools resolver plus the record of what each route accepts."""

    def __init__(self) -> None:
        self.resolver = APIGatewayRestResolver()
        self.routes: list[Route] = []

    def route(self, method: str, rule: str, summary: str, *, body: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, status: int = 200, public: bool = False) -> Callable[[F], F]:
        def register(func: F) -> F:
            self.routes.append(Route(method, rule, summary, body, query, status, public))
            self.resolver.route(rule, method, include_in_schema=False)(func)
            return func

        return register


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


# --- documentation, built on first request -----------------------------------

def _documenting_stub(route: Route) -> Callable[..., Any]:
    from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

    params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, Path()])
        for name in re.findall(r"<(\w+)>", route.rule)
    ]
    if route.query is not None:
        for name, field in route.query.model_fields.items():
            annotation = Annotated[(field.annotation, Query(description=field.description), *field.metadata)]  # type: ignore[name-defined]
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                            default=field.default))
    if route.body is not None:
        params.append(inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Annotated[route.body, Body(embed=False)]))

    def stub(**_: Any) -> dict[str, Any]:  # never called: it only carries a signature
        return {}

    stub.__signature__ = inspect.Signature(params, return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    stub.__name__ = f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.rule.lower()).strip('_')}"
    return stub


@functools.cache
def document(api: Api) -> str:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    docs = APIGatewayRestResolver(enable_validation=True)
    error = {"description": "Error", "content": {"application/json": {"schema": {"type": "object"}}}}
    for route in api.routes:
        responses: dict[int, Any] = {route.status: {"description": "Success"}}
        if not route.public:
            responses[401] = {**error, "description": "No or bad staff token"}
        if route.body is not None:
            responses.update({400: error, 413: error, 422: {**error, "description": "Invalid field"}})
        docs.route(route.rule, route.method, summary=route.summary, responses=responses,
                   security=None if route.public else [{"staffToken": []}])(_documenting_stub(route))
    return docs.get_openapi_json_schema(
        title=TITLE, version=VERSION, description=DESCRIPTION, security_schemes={"staffToken": HTTPBearer()}
    )


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
