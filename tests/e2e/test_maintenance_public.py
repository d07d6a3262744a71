"""End to end on the local stack: scheduled maintenance as the public reads it.

Staff schedule maintenances through `POST /v1/maintenances`, far in the
future so that no step of the clock fires during the test (see `staff` for
the route's way in while template.yaml does not declare it); then a Statuspage
client reads the v2 JSON, a calendar app `/maintenances.ics`, a feed reader
the feeds and a visitor the status page in Chromium. A maintenance started
by hand shows as active; a cancelled one as a cancelled calendar event.

The tests run in file order: the first ones look before anything is moved.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
import pytest

from tests.conftest import DATA, Api, Reply, http
from tests.support.browser import new_page
from tests.unit.publishing.test_maintenance_calendar import both

pytestmark = pytest.mark.e2e

SAMPLES = DATA / "statuspage-maintenance"
IDLE = 120
# The default stack's PageTimeZone.
ZONE = ZoneInfo("America/New_York")
# Far in the future, so that nothing of the clock is due during the test.
# Noon UTC (07:00 or 08:00 in New York), so its 2-hour window never crosses the page's midnight,
# whatever the hour the suite runs at (a window that does is written with both dates).
START = (datetime.now(UTC) + timedelta(days=400)).replace(hour=12, minute=0, second=0, microsecond=0)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def get_json(stack: Any, path: str) -> Any:
    reply = http(stack.api_url + path)
    assert reply.status == 200, (path, reply.status, reply.raw[:200])
    assert reply.headers["Content-Type"].startswith("application/json"), path
    return reply.json


def staff(stack: Any, api: Api, method: str, path: str, body: Any, **headers: str) -> Reply:
    """A staff request through the front door, as API Gateway takes it."""
    return api(method, path, body, headers=headers)


@pytest.fixture(scope="module")
def site(stack: Any, api: Api) -> dict[str, Any]:
    """Two components and two maintenances scheduled through the staff API."""
    for component_id, name in (("api", "API"), ("database", "Database")):
        assert api("PUT", f"/v1/components/{component_id}", {"name": name}).status in (200, 201)
    made = {}
    for key, name, offset, components in (
            ("upgrade", "Database upgrade", timedelta(0), ["database"]),
            ("move", "Data centre move", timedelta(days=7), ["api", "database"])):
        reply = staff(stack, api, "POST", "/v1/maintenances", {
            "name": name, "body": f"{name}: expect short interruptions.",
            "scheduled_for": iso(START + offset), "scheduled_until": iso(START + offset + timedelta(hours=2)),
            "components": components,
        }, **{"Idempotency-Key": f"maintenance-public-{key}"})
        assert reply.status == 201, reply.raw
        assert reply.json["status"] == "scheduled"
        made[key] = reply.json
    stack.wait_idle(timeout=IDLE)
    return made


def test_the_v2_json_lists_the_upcoming_maintenances_in_statuspages_shapes(stack: Any, site: dict[str, Any]) -> None:
    # WHEN a Statuspage client reads the maintenance documents
    listed = get_json(stack, "/api/v2/scheduled-maintenances.json")
    upcoming = get_json(stack, "/api/v2/scheduled-maintenances/upcoming.json")
    active = get_json(stack, "/api/v2/scheduled-maintenances/active.json")
    summary = get_json(stack, "/api/v2/summary.json")
    # THEN their keys are Statuspage's: every document's, maintenance's, update's and component's
    payfast = sample("payfast_scheduled-maintenances.json")
    github = sample("githubstatus_summary_2020-12_in_progress.json")
    theirs = payfast["scheduled_maintenances"][0]
    assert list(summary) == list(github)
    for doc in (listed, upcoming, active):
        assert list(doc) == list(payfast) and list(doc["page"]) == list(payfast["page"])
    for maintenance in [*listed["scheduled_maintenances"], *summary["scheduled_maintenances"]]:
        assert list(maintenance) == list(theirs)
        assert all(list(u) == list(theirs["incident_updates"][0]) for u in maintenance["incident_updates"])
        assert all(list(c) == list(theirs["components"][0]) for c in maintenance["components"])
    # AND all of them list both, latest scheduled first; upcoming and the summary soonest first
    ids = [site["upgrade"]["id"], site["move"]["id"]]
    assert [m["id"] for m in listed["scheduled_maintenances"]] == ids[::-1]
    assert [m["id"] for m in upcoming["scheduled_maintenances"]] == ids
    assert [m["id"] for m in summary["scheduled_maintenances"]] == ids
    assert active["scheduled_maintenances"] == []
    first = upcoming["scheduled_maintenances"][0]
    assert (first["status"], first["impact"]) == ("scheduled", "maintenance")
    assert (first["scheduled_for"], first["scheduled_until"]) == (iso(START), iso(START + timedelta(hours=2)))
    assert [c["name"] for c in first["components"]] == ["Database"]
    # AND nothing is under maintenance yet, and no incident document lists them
    assert get_json(stack, "/api/v2/status.json")["status"]["indicator"] == "none"
    assert get_json(stack, "/api/v2/incidents.json")["incidents"] == []
    assert get_json(stack, "/api/v2/incidents/unresolved.json")["incidents"] == []
    assert summary["incidents"] == []


def test_a_calendar_app_reads_both_maintenances(stack: Any, site: dict[str, Any]) -> None:
    reply = http(stack.api_url + "/maintenances.ics")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert reply.headers["ETag"] and "max-age" in reply.headers["Cache-Control"]
    events = both(reply.raw)
    host = re.sub(r"^https?://|:\d+$", "", stack.api_url)
    assert [(e["uid"], e["sequence"], e["status"]) for e in events] == [
        (f"{site['move']['id']}@{host}", 0, "CONFIRMED"), (f"{site['upgrade']['id']}@{host}", 0, "CONFIRMED")]
    assert (events[1]["start"], events[1]["end"]) == (START, START + timedelta(hours=2))
    assert events[1]["summary"] == "Database upgrade"
    assert events[1]["url"] == f"{stack.api_url}/incidents/{site['upgrade']['id']}"
    assert events[1]["description"].startswith("Database upgrade: expect short interruptions.")


def test_feed_readers_get_the_maintenances_as_entries(stack: Any, site: dict[str, Any]) -> None:
    start = START.astimezone(ZONE)
    window = f"{start:%b} {start.day:>2}, {start:%H:%M} - {start + timedelta(hours=2):%H:%M} {start:%Z}"
    for path, expected in (("/history.rss", ["Data centre move", "Database upgrade"]),
                           ("/history.atom", ["Data centre move", "Database upgrade"]),
                           ("/components/database/history.rss", ["Data centre move", "Database upgrade"]),
                           ("/components/api/history.atom", ["Data centre move"])):
        parsed = feedparser.parse(http(stack.api_url + path).raw)
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert [e.title for e in parsed.entries] == expected, path
    entry = feedparser.parse(http(stack.api_url + "/history.rss").raw).entries[1]
    assert entry.link == f"{stack.api_url}/incidents/{site['upgrade']['id']}"
    text = re.sub(r"<[^>]+>", "", entry.description)
    assert text.startswith(f"THIS IS A SCHEDULED EVENT {window}"), text
    assert "Scheduled - Database upgrade: expect short interruptions." in text


def test_the_status_page_shows_upcoming_maintenance_in_local_time(
        stack: Any, site: dict[str, Any], browser: Any) -> None:
    page = new_page(browser)
    # WHEN a visitor opens the status page
    assert page.goto(stack.api_url + "/").status == 200
    section = page.locator("section", has=page.get_by_role("heading", name="Scheduled maintenance"))
    articles = section.locator("article.maintenance")
    # THEN both upcoming maintenances are there, soonest first, with their windows in New York time
    assert articles.count() == 2
    start = START.astimezone(ZONE)
    end = start + timedelta(hours=2)
    first = articles.nth(0).inner_text()
    assert first.startswith("Database upgrade"), first
    assert f"Scheduled · {start:%b} {start.day}, {start.year} - {start:%H:%M} – {end:%H:%M} {end:%Z}" in first
    assert "Affects: Database" in first
    assert "Data centre move" in articles.nth(1).inner_text()
    assert section.locator("article.maintenance.active").count() == 0
    assert page.locator("p.banner").inner_text() == "All Systems Operational"
    # AND a maintenance's own page shows its window and its update
    page.goto(f"{stack.api_url}/incidents/{site['upgrade']['id']}")
    assert page.get_by_role("heading", level=1).inner_text() == "Database upgrade"
    assert page.locator("p.window").inner_text().startswith(f"Scheduled for {start:%b} {start.day}, {start.year}")
    assert page.locator("ol.updates > li").first.inner_text().startswith("Scheduled - Database upgrade")


def test_started_by_hand_it_is_active_and_the_page_says_under_maintenance(
        stack: Any, api: Api, site: dict[str, Any], browser: Any) -> None:
    # GIVEN staff start the first maintenance early, by hand
    reply = staff(stack, api, "POST", f"/v1/maintenances/{site['upgrade']['id']}/updates",
                  {"status": "in_progress", "body": "We have started early."})
    assert reply.status == 201, reply.raw
    stack.wait_idle(timeout=IDLE)
    # THEN it is active, no longer upcoming, and its component is under maintenance
    active = get_json(stack, "/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert [(m["id"], m["status"]) for m in active] == [(site["upgrade"]["id"], "in_progress")]
    assert [c["status"] for c in active[0]["components"]] == ["under_maintenance"]
    upcoming = get_json(stack, "/api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert [m["id"] for m in upcoming] == [site["move"]["id"]]
    # AND status.json says so, as githubstatus.com's did
    status = get_json(stack, "/api/v2/status.json")
    github = sample("githubstatus_status_2020-12_maintenance.json")
    assert list(status) == list(github) and status["status"] == github["status"]
    summary = get_json(stack, "/api/v2/summary.json")
    assert summary["status"] == github["status"]
    assert [m["status"] for m in summary["scheduled_maintenances"]] == ["in_progress", "scheduled"]
    # AND the page highlights it, and shows the component under maintenance
    page = new_page(browser)
    page.goto(stack.api_url + "/")
    assert page.locator("p.banner").inner_text() == "Service Under Maintenance"
    highlighted = page.locator("article.maintenance.active")
    assert highlighted.count() == 1
    assert highlighted.locator("h3").inner_text() == "Database upgrade"
    assert highlighted.locator(".state").inner_text() == "In progress"
    assert "We have started early." in highlighted.inner_text()
    rows = {row.locator(".name").inner_text(): row.locator(".status").inner_text()
            for row in page.locator(".components .row").all()}
    assert rows == {"API": "Operational", "Database": "Under Maintenance"}


def test_a_cancelled_maintenance_is_a_cancelled_calendar_event(
        stack: Any, api: Api, site: dict[str, Any]) -> None:
    # GIVEN staff cancel the second maintenance
    reply = staff(stack, api, "POST", f"/v1/maintenances/{site['move']['id']}/cancel", {"body": "No longer needed."})
    assert reply.status == 200, reply.raw
    stack.wait_idle(timeout=IDLE)
    # THEN the calendar keeps its event, cancelled, one sequence on
    events = {e["uid"].split("@")[0]: e for e in both(http(stack.api_url + "/maintenances.ics").raw)}
    assert (events[site["move"]["id"]]["status"], events[site["move"]["id"]]["sequence"]) == ("CANCELLED", 1)
    assert events[site["move"]["id"]]["description"].startswith("No longer needed.")
    assert (events[site["upgrade"]["id"]]["status"], events[site["upgrade"]["id"]]["sequence"]) == ("CONFIRMED", 0)
    # AND it is no longer upcoming; the JSON says completed (Statuspage has no cancelled)
    assert get_json(stack, "/api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"] == []
    listed = {m["id"]: m for m in get_json(stack, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"]}
    assert listed[site["move"]["id"]]["status"] == "completed"
    assert [m["id"] for m in get_json(stack, "/api/v2/summary.json")["scheduled_maintenances"]] == [
        site["upgrade"]["id"]]
