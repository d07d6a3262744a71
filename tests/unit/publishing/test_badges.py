"""Badges: the flat SVG and shields.io's endpoint JSON, and when the publisher renders them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from status_fanout.incidents.models import Component
from status_fanout.publishing import badges
from status_fanout.publishing.presentation import COMPONENT_STATUS_LABELS
from status_fanout.publishing.public_json import INDICATOR_DESCRIPTION
from status_fanout.publishing.publisher import RenderPlan, SiteState, render
from tests.unit.publishing.test_feeds import SETTINGS, seed_incident, state_for

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>&\"'"


def parse(body: bytes) -> ET.Element:
    return ET.fromstring(body)  # noqa: S314 - our own output


def texts(root: ET.Element) -> list[str]:
    """The visible texts (not the shadows), left to right."""
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("aria-hidden") != "true"]


def rects(root: ET.Element) -> list[ET.Element]:
    group = root.find(f"{SVG}g")
    assert group is not None
    return group.findall(f"{SVG}rect")


def test_the_svg_is_well_formed_xml_with_hostile_text_intact() -> None:
    # GIVEN a component named like markup
    body = badges.svg(HOSTILE, "Major Outage", badges.STATUS_COLOURS["major_outage"])
    # THEN it parses, and a reader (and a screen reader) gets the name back as written
    root = parse(body)
    assert texts(root) == [HOSTILE, "Major Outage"]
    assert root.get("role") == "img"
    assert root.get("aria-label") == f"{HOSTILE}: Major Outage"
    assert root.findtext(f"{SVG}title") == f"{HOSTILE}: Major Outage"
    assert b"<script>" not in body


def test_characters_xml_cannot_hold_are_dropped_and_whitespace_collapsed() -> None:
    root = parse(badges.svg("a\x00b\x1b  c\n\td", "ok", "#2fcc66"))
    assert texts(root)[0] == "ab c d"


def test_widths_grow_with_the_text_and_the_parts_add_up_to_the_whole() -> None:
    short, long = badges.svg("api", "Operational", "#2fcc66"), badges.svg("api gateway", "Operational", "#2fcc66")
    for body, label in ((short, "api"), (long, "api gateway")):
        root = parse(body)
        left, right = rects(root)
        total = int(root.get("width") or 0)
        assert int(left.get("width") or 0) + int(right.get("width") or 0) == total
        assert int(right.get("x") or 0) == int(left.get("width") or 0)
        assert int(left.get("width") or 0) == badges.part_width(label)
    assert int(parse(long).get("width") or 0) > int(parse(short).get("width") or 0)
    # A wide letter takes more room than a narrow one, and text never outgrows its part
    assert badges.text_width("WWW") > badges.text_width("iii")
    for text in ("All Systems Operational", "Major System Outage", HOSTILE, "Ünïcødé 状態 🚀"):
        assert badges.part_width(text) >= badges.text_width(text) + 2 * badges.PADDING
    # A character outside ASCII counts wider than any ASCII one
    assert badges.char_width("状") > max(badges.char_width(chr(c)) for c in range(0x20, 0x7F))


def test_each_text_is_fitted_to_its_measured_part() -> None:
    root = parse(badges.svg("Status", "All Systems Operational", "#2fcc66"))
    left, right = (int(r.get("width") or 0) for r in rects(root))
    lengths = [int(t.get("textLength") or 0) for t in root.iter(f"{SVG}text")]
    assert lengths == [left - 10, left - 10, right - 10, right - 10]


@pytest.mark.parametrize("status", sorted(COMPONENT_STATUS_LABELS))
def test_a_component_badge_says_its_status_in_its_colour(status: str) -> None:
    component = Component(id="api", name="API", status=status, created_at="2019-01-01T00:00:00.000Z",
                          updated_at="2019-01-01T00:00:00.000Z")
    label, message, colour = badges.component_badge(component)
    assert (label, message, colour) == ("API", COMPONENT_STATUS_LABELS[status], badges.STATUS_COLOURS[status])
    root = parse(badges.svg(label, message, colour))
    assert rects(root)[1].get("fill") == colour


def test_the_page_badge_says_the_status_description_in_the_indicator_colour() -> None:
    for indicator, description in INDICATOR_DESCRIPTION.items():
        status = {"indicator": indicator, "description": description}
        assert badges.page_badge("Bottlenose", status) == ("Bottlenose", description,
                                                            badges.INDICATOR_COLOURS[indicator])
    assert badges.page_badge("", {"indicator": "none", "description": "All Systems Operational"})[0] == "status"
    assert badges.STATUS_COLOURS["operational"] == badges.INDICATOR_COLOURS["none"] == "#2fcc66"


def test_every_text_reaches_wcag_aa_contrast_against_its_background() -> None:
    # The WCAG 2 formula, worked from the colours: white is 21:1 on black, grey #777 4.48:1 on white
    assert badges.contrast("#ffffff", "#000000") == pytest.approx(21)
    assert badges.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    backgrounds = {badges.LABEL_COLOUR, badges.UNKNOWN_COLOUR, *badges.STATUS_COLOURS.values(),
                   *badges.INDICATOR_COLOURS.values()}
    for background in backgrounds:
        assert badges.contrast(badges.text_colour(background), background) >= 4.5, background
    # AND the SVG uses exactly those text colours
    root = parse(badges.svg("Status", "Major System Outage", badges.INDICATOR_COLOURS["critical"]))
    fills = [t.get("fill") for t in root.iter(f"{SVG}text") if t.get("aria-hidden") != "true"]
    assert fills == [badges.text_colour(badges.LABEL_COLOUR), badges.text_colour("#e74c3c")]


def test_the_json_is_shields_endpoint_schema() -> None:
    document = badges.endpoint(HOSTILE, "Partial Outage", "#e67e22")
    assert document == {"schemaVersion": 1, "label": HOSTILE, "message": "Partial Outage", "color": "e67e22"}
    assert all(isinstance(document[k], str) and document[k] for k in ("label", "message", "color"))


# --- when the publisher renders them -------------------------------------------------------

def component_change(component_id: str, old: str, new: str) -> dict[str, object]:
    return {"dynamodb": {"Keys": {"pk": {"S": "COMP"}, "sk": {"S": f"COMP#{component_id}"}},
                         "OldImage": {"name": {"S": "x"}, "status": {"S": old}},
                         "NewImage": {"name": {"S": "x"}, "status": {"S": new}}}}


def test_a_status_change_renders_the_page_badges_and_that_components_only() -> None:
    incident, updates = seed_incident()
    state = state_for(incident, updates)
    changed, other = sorted(state.components)[:2]
    plan = RenderPlan.from_stream_records([component_change(changed, "operational", "major_outage")])
    assert plan.changed_component_ids == {changed} and not plan.component_ids
    artifacts = render(plan, state, SETTINGS)
    assert {"badge.svg", "badge.json", f"components/{changed}/badge.svg", f"components/{changed}/badge.json"} \
        <= set(artifacts)
    assert not any(key.startswith(f"components/{other}/badge") for key in artifacts)
    assert artifacts["badge.svg"].content_type == "image/svg+xml"
    assert artifacts["badge.json"].content_type.startswith("application/json")
    component = state.components[changed]
    document = json.loads(artifacts[f"components/{changed}/badge.json"].body)
    assert document["label"] == component.name
    assert document["message"] == COMPONENT_STATUS_LABELS[component.status]


def test_the_page_badge_says_what_status_json_says() -> None:
    incident, updates = seed_incident()
    artifacts = render(RenderPlan(incident_ids={incident.id}), state_for(incident, updates), SETTINGS)
    status = json.loads(artifacts["api/v2/status.json"].body)["status"]
    document = json.loads(artifacts["badge.json"].body)
    assert document["message"] == status["description"] and document["label"] == SETTINGS.page.name
    assert texts(parse(artifacts["badge.svg"].body)) == [SETTINGS.page.name, status["description"]]


def test_the_full_render_holds_every_components_badges() -> None:
    incident, updates = seed_incident()
    state = state_for(incident, updates)
    full = render(RenderPlan.everything_in([incident.id], state.components), state, SETTINGS)
    assert {f"components/{c}/badge.{ext}" for c in state.components for ext in ("svg", "json")} <= set(full)
    empty = render(RenderPlan.everything_in([], []), SiteState({}, [], [], [], []), SETTINGS)
    assert json.loads(empty["badge.json"].body)["message"] == "All Systems Operational"
