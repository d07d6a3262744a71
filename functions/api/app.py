"""The HTTP API Lambda: staff routes for components and incidents."""


from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout import http_errors, openapi
from status_fanout.auth import hash_token
from status_fanout.models import (
    COMPONENT_ID_PATTERN,
    ComponentPatch,
    ComponentPut,
    IncidentCreate,
    PostmortemPut,
    UpdateCorrect,
    UpdateCreate,
)
from status_fanout.observability import logger, metrics
from status_fanout.public_json import component_object, incident_object
from status_fanout.service import StatusService
from status_fanout.settings import get_settings
from status_fanout.store import Store

INCIDENT_ID_PATTERN = r"^[a-z0-9]{1,64}$"
ComponentIdPath = Annotated[str, Path(pattern=COMPONENT_ID_PATTERN)]
IncidentIdPath = Annotated[str, Path(pattern=INCIDENT_ID_PATTERN)]

settings = get_settings()
service = StatusService(Store(settings.table_name))
app = APIGatewayRestResolver(enable_validation=True)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def staff_gate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    http_errors.refuse(app.current_event, settings)
    return next_middleware(app)


def idempotency_gate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response:
    event = app.current_event
    key = event.headers.get("idempotency-key") or event.headers.get("Idempotency-Key")
    if event.http_method != "POST" or not key:
        return next_middleware(app)
    http_errors.check_idempotency_key(key)
    from status_fanout import idempotency

    def run() -> dict[str, Any]:
        response = next_middleware(app)
        return {"status": response.status_code, "body": response.body, "headers": dict(response.headers)}

    token_scope = hash_token(http_errors.authorization_header(event))[:16]
    first = idempotency.run_once(f"{token_scope} POST {event.path}", key, event.body or "", run)
    return Response(status_code=first["status"], body=first["body"], headers=first["headers"])


app.use(middlewares=[staff_gate, idempotency_gate])
http_errors.register(app, settings)


def _incident(pair: tuple[Any, list[Any]], components: dict[str, Any] | None = None) -> dict[str, Any]:
    incident, updates = pair
    if components is None:
        components = {c.id: c for c in service.list_components()} if incident.component_ids else {}
    return incident_object(incident, updates, components, settings)


# --- components ---------------------------------------------------------------

@app.get("/v1/components", summary="List components")
def list_components() -> dict[str, Any]:
    page_id = settings.effective_page_id
    return {"components": [component_object(c, page_id) for c in service.list_components()]}


@app.put("/v1/components/<component_id>", summary="Create or replace a component")
def put_component(component_id: ComponentIdPath, request: ComponentPut) -> Response[dict[str, Any]]:
    component, created = service.put_component(component_id, request)
    return _json(201 if created else 200, component_object(component, settings.effective_page_id))


@app.patch("/v1/components/<component_id>", summary="Change a component's status (notifies its subscribers)")
def patch_component(component_id: ComponentIdPath, request: ComponentPatch) -> dict[str, Any]:
    component = service.patch_component(component_id, request)
    metrics.add_metric(name="ComponentStatusChanged", unit=MetricUnit.Count, value=1)
    return component_object(component, settings.effective_page_id)


# --- incidents ----------------------------------------------------------------

@app.get("/v1/incidents", summary="List incidents, newest first")
def list_incidents(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> dict[str, Any]:
    pairs, next_cursor = service.list_incidents(limit, cursor)
    components = {c.id: c for c in service.list_components()}
    return {"incidents": [_incident(p, components) for p in pairs], "next_cursor": next_cursor}


@app.post("/v1/incidents", summary="Open an incident with its first update")
def create_incident(request: IncidentCreate) -> Response[dict[str, Any]]:
    pair = service.create_incident(request)
    metrics.add_metric(name="IncidentUpdatesPosted", unit=MetricUnit.Count, value=1)
    incident_id = pair[0].id
    return _json(201, _incident(pair), {"Location": f"/v1/incidents/{incident_id}"})


@app.get("/v1/incidents/<incident_id>", summary="Get one incident")
def get_incident(incident_id: IncidentIdPath) -> dict[str, Any]:
    return _incident(service.get_incident(incident_id))


@app.post("/v1/incidents/<incident_id>/updates", summary="Post an update to an incident")
def add_update(incident_id: IncidentIdPath, request: UpdateCreate) -> Response[dict[str, Any]]:
    incident, updates = service.add_update(incident_id, request)
    metrics.add_metric(name="IncidentUpdatesPosted", unit=MetricUnit.Count, value=1)
    update_id = updates[-1].id
    return _json(201, _incident((incident, updates)),
                 {"Location": f"/v1/incidents/{incident_id}/updates/{update_id}"})


@app.patch("/v1/incidents/<incident_id>/updates/<update_id>",
           summary="Correct an update's text or time (notifies nobody)")
def correct_update(incident_id: IncidentIdPath, update_id: IncidentIdPath, request: UpdateCorrect) -> dict[str, Any]:
    return _incident(service.correct_update(incident_id, update_id, request))


@app.put("/v1/incidents/<incident_id>/postmortem", summary="Publish or correct the postmortem")
def put_postmortem(incident_id: IncidentIdPath, request: PostmortemPut) -> dict[str, Any]:
    return _incident(service.publish_postmortem(incident_id, request))


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi.document(app))


@app.get("/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=openapi.swagger_html(app))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("headers") and any(k.lower() == "idempotency-key" for k in event["headers"]):
        from status_fanout import idempotency

        idempotency.register_context(context)
    return app.resolve(event, context)
