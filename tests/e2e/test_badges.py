"""Badges through the local front door, as a README's image or shields.io
fetches them: the page's and a component's, before and during an outage.

The tests run in file order: the first looks before anything is posted.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.conftest import Api, http

pytestmark = pytest.mark.e2e

IDLE = 120
SVG = "{http://www.w3.org/2000/svg}"
COMPONENT = "badge-api"


def badge_text(stack: Any, path: str) -> list[str]:
    """What a reader of the badge reads: its visible texts, and its accessible name."""
    reply = http(stack.api_url + path)
    assert reply.status == 200, (path, reply.status, reply.raw[:200])
    assert reply.headers["Content-Type"].startswith("image/svg+xml"), path
    root = ET.fromstring(reply.raw)  # noqa: S314 - our own output
    visible = [t.text or "" for t in root.iter(f"{SVG}text") if t.get("aria-hidden") != "true"]
    assert root.get("aria-label") == ": ".join(visible) == root.findtext(f"{SVG}title")
    return visible


def test_the_page_badge_says_all_systems_operational_before_anything_is_posted(stack: Any) -> None:
    assert badge_text(stack, "/badge.svg") == ["Bottlenose", "All Systems Operational"]
    document = http(f"{stack.api_url}/badge.json").json
    assert document == {"schemaVersion": 1, "label": "Bottlenose", "message": "All Systems Operational",
                        "color": "2fcc66"}


def test_a_major_outage_shows_on_the_page_badge_and_the_components(stack: Any, api: Api) -> None:
    # GIVEN a component, operational
    assert api("PUT", f"/v1/components/{COMPONENT}", {"name": "Badge <API> & co"}).status == 201
    stack.wait_idle(timeout=IDLE)
    assert badge_text(stack, f"/components/{COMPONENT}/badge.svg") == ["Badge <API> & co", "Operational"]
    # WHEN an incident puts it in a major outage
    reply = api("POST", "/v1/incidents", {"name": "API down", "status": "investigating", "body": "Looking.",
                                          "components": {COMPONENT: "major_outage"}, "notify": False})
    assert reply.status == 201, reply.raw[:300]
    stack.wait_idle(timeout=IDLE)
    # THEN the page's badge says what status.json says, and the component's says Major Outage
    status = http(f"{stack.api_url}/api/v2/status.json").json["status"]
    assert status["description"] == "Major System Outage"
    assert badge_text(stack, "/badge.svg") == ["Bottlenose", "Major System Outage"]
    assert badge_text(stack, f"/components/{COMPONENT}/badge.svg") == ["Badge <API> & co", "Major Outage"]
    document = http(f"{stack.api_url}/components/{COMPONENT}/badge.json").json
    assert document == {"schemaVersion": 1, "label": "Badge <API> & co", "message": "Major Outage",
                        "color": "e74c3c"}
    assert http(f"{stack.api_url}/badge.json").json["message"] == "Major System Outage"


@pytest.mark.parametrize("path", ["/badge.svg", "/badge.json", f"/components/{COMPONENT}/badge.svg"])
def test_a_badge_answers_if_none_match_with_304(stack: Any, path: str) -> None:
    first = http(stack.api_url + path)
    assert first.status == 200 and first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    assert first.headers["Access-Control-Allow-Origin"] == "*"
    again = http(stack.api_url + path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and again.raw == b""
