"""How a template fills a request (docs/templates.md): the request's fields
win whole, and the merge is what the create models validate."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from status_fanout.incidents.models import IncidentCreate, MaintenanceCreate, Template
from status_fanout.incidents.templates import filled

TEMPLATE = Template(id="db", name="Database", title="Database degraded", body="Queries are slow.",
                    status="identified", impact="minor",
                    components={"db": "degraded_performance", "api": "partial_outage"},
                    created_at="2026-12-01T00:00:00.000Z", updated_at="2026-12-01T00:00:00.000Z")


def test_an_incident_takes_every_field_the_request_does_not_give() -> None:
    request = IncidentCreate.model_validate(filled({"template": "db", "impact": "major"}, TEMPLATE, "incident"))
    assert (request.name, request.body, request.status, request.impact) == (
        "Database degraded", "Queries are slow.", "identified", "major")
    assert request.components == {"db": "degraded_performance", "api": "partial_outage"}
    assert request.template == "db"


def test_the_requests_components_replace_the_templates_whole() -> None:
    merged = filled({"template": "db", "components": {"web": "major_outage"}}, TEMPLATE, "incident")
    assert merged["components"] == {"web": "major_outage"}


def test_a_null_in_the_request_overrides_too() -> None:
    request = IncidentCreate.model_validate(filled({"template": "db", "impact": None, "components": None},
                                                   TEMPLATE, "incident"))
    assert request.impact is None and request.components is None


def test_a_maintenance_takes_title_body_and_component_ids_only() -> None:
    merged = filled({"template": "db", "scheduled_for": "2030-01-01T00:00:00Z",
                     "scheduled_until": "2030-01-01T01:00:00Z"}, TEMPLATE, "maintenance")
    request = MaintenanceCreate.model_validate(merged)
    assert (request.name, request.body, request.components) == ("Database degraded", "Queries are slow.", ["db", "api"])


def test_a_template_without_status_leaves_the_request_to_give_one() -> None:
    bare = TEMPLATE.model_copy(update={"status": None, "impact": None, "components": None})
    with pytest.raises(ValidationError) as raised:
        IncidentCreate.model_validate(filled({"template": "db"}, bare, "incident"))
    assert [e["loc"] for e in raised.value.errors()] == [("status",)]


def test_no_placeholders_the_text_is_used_as_written() -> None:
    braces = TEMPLATE.model_copy(update={"body": "{{component}} is {{status}}"})
    assert filled({"template": "db"}, braces, "incident")["body"] == "{{component}} is {{status}}"
