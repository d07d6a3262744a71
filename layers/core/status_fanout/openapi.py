"""The OpenAPI document and Swagger UI, built on first request.

Powertools' `enable_swagger` imports its OpenAPI models at cold start (~110 ms
on every invocation's init); these two routes pay that only when asked.
"""

from __future__ import annotations

import functools
from pathlib import Path

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

TITLE = "status-fanout API"
VERSION = "1"
DESCRIPTION = (
    "Staff routes need `Authorization: Bearer <token>`. Errors are "
    '`{"error": {"code", "message", "details"}}`; POSTs honour `Idempotency-Key`.'
)


@functools.cache
def document(app: APIGatewayRestResolver) -> str:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes={"staffToken": HTTPBearer()},
        security=[{"staffToken": []}],
    )


@functools.cache
def swagger_html(app: APIGatewayRestResolver) -> str:
    import aws_lambda_powertools.event_handler.openapi.swagger_ui as swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    # Assets are inlined from the Powertools package: the page loads nothing from a CDN.
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    spec = document(app).replace("</", "<\\/")
    return generate_swagger_html(spec, js, css, None, None, False)
