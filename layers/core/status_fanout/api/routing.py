"""How the api's routes are declared and read their requests.

The runtime resolver does not use Powertools' request validation: it imports
the OpenAPI machinery (~100 ms) into every cold start and builds validators on
the first request. Routes parse their body, query and form with our pydantic
models instead (`parse_body`, `parse_query`, `parse_form`). They register on a
`DocumentedRouter` through `operation`, which records what each accepts and
answers; `Api.include` routes a router's routes and keeps its records, in
order, for the OpenAPI document (status_fanout.api.openapi), which is built
from them on its first request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ValidationError

from status_fanout.errors import InvalidRequestError, MalformedRequestError

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
# A model, or "package.module:Model" for one whose module should load only when
# its route is first called or the document is built, not at cold start.
ModelRef = type[BaseModel] | str


JSON = "application/json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
CSV = "text/csv"


class Route(NamedTuple):  # not a frozen dataclass: building that class is ~4.5 M instructions of every cold start
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
    csv: bool = False  # takes a text/csv body as well as JSON


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
                  form: bool = False, csv: bool = False) -> Callable[[F], F]:
        statuses = (status,) if isinstance(status, int) else status

        def register(func: F) -> F:
            self.operations.append(Route(method, rule, summary, body, query, statuses, public, errors, answers, form,
                                         csv))
            self.route(rule, method, include_in_schema=False)(func)
            return func

        return register


class Api:
    """A Powertools resolver plus the record of what each of its routes accepts."""

    def __init__(self) -> None:
        self.resolver = APIGatewayRestResolver()
        self.routes: list[Route] = []

    def include(self, router: DocumentedRouter) -> None:
        """Register the router's routes after those already registered, and
        document them in that order too. Powertools tries routes without path
        parameters first, then the others in registration order."""
        self.resolver.include_router(router)
        self.routes.extend(router.operations)


def _invalid(exc: ValidationError, prefix: tuple[str, ...] = ()) -> InvalidRequestError:
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in (*prefix, *error["loc"]) if p != "[key]") or "body"
        details.append({"field": field, "message": error["msg"], "type": error["type"]})
    fields = ", ".join(sorted({d["field"] for d in details}))
    return InvalidRequestError(f"invalid {fields}", details)


def parse_object(raw: str | None) -> dict[str, Any]:
    """The request body as a JSON object, not yet validated."""
    try:
        data = json.loads(raw or "")
    except ValueError as exc:
        raise MalformedRequestError("the request body is not valid JSON", [{"field": "body"}]) from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object", [{"field": "body"}])
    return data


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def parse_body(model: type[M], raw: str | None) -> M:
    return validate(model, parse_object(raw))


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
