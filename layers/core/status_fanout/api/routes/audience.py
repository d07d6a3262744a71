"""The audience preview (docs/templates.md): who an update on some components
would reach now. Its module, and the planner's it reuses, load on its first
request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from status_fanout.api.lazy import Lazy, Services
from status_fanout.api.routing import DocumentedRouter, body_text, parse_body

MODULE = "status_fanout.delivery.audience"
if TYPE_CHECKING:
    from status_fanout.delivery import audience
else:
    audience = Lazy(MODULE)


def router(services: Services) -> DocumentedRouter:
    routes = DocumentedRouter()

    @routes.operation("POST", "/v1/audience",
                      "How many confirmed email subscribers, webhook endpoints and chat endpoints an update on "
                      "these components would reach now (sends nothing)", body=f"{MODULE}:AudienceRequest")
    def preview_audience() -> dict[str, Any]:
        request = parse_body(audience.AudienceRequest, body_text(routes.event) or "{}")
        return dict(audience.audience(services.store, services.settings, request))

    return routes
