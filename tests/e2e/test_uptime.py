"""End to end on the local stack: every component status change is kept
with its time (docs/data-model.md, "Component status history"), and the
publisher turns it into `/uptime.json` (docs/contract.md §11)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from status_fanout.incidents.store import IncidentStore
from status_fanout.publishing import uptime
from status_fanout.timefmt import parse_ts
from status_fanout_local.replay import http_sender, read_plans, replay
from tests.conftest import SEED, STAFF_TOKEN, Api, http

pytestmark = pytest.mark.e2e
NEW_YORK = ZoneInfo("America/New_York")  # the template's default page zone, the demo's
SEED_COMPONENTS = ["smtp-email", "transactional-emails", "email-marketing", "pop3-imap-email"]


def store(stack: Any) -> IncidentStore:
    return IncidentStore(stack.physical["StatusTable"])


def test_the_replayed_seed_fills_the_history_at_its_display_times(stack: Any) -> None:
    # GIVEN the seed incident (Aug 30 2018, 18:18 to 22:29 EDT) replayed as backfill
    [incident] = replay(http_sender(stack.api_url, STAFF_TOKEN), read_plans(SEED), key_prefix="uptime-seed")
    stack.wait_idle(timeout=30)
    for component_id in SEED_COMPONENTS:
        # WHEN the component's history since that day is read (one query)
        changes = store(stack).component_history(component_id, "2018-08-30T04:00:00.000Z")
        backfill = [(c.changed_at, c.status) for c in changes if c.source == "backfill"]
        # THEN it holds the two changes at their display times (UTC), and nothing was there before
        assert backfill == [("2018-08-30T22:18:00.000Z", "major_outage"),
                            ("2018-08-31T02:29:00.000Z", "operational")], component_id
        assert {c.ref for c in changes if c.source == "backfill"} <= {
            u["id"] for u in incident["incident_updates"]}
        assert store(stack).status_before(component_id, "2018-08-30T04:00:00.000Z") is None
        # AND the component's creation today (operational) is in it too, the live status untouched
        assert [c.source for c in changes][-1] == "put" and changes[-1].status == "operational"
        # AND Aug 30 2018 in New York had 4 h 11 min of major outage: 100 - 15060 / 86400 * 100
        pairs = [(parse_ts(c.changed_at), c.status) for c in changes]
        start = uptime.history_start(parse_ts(changes[-1].changed_at), pairs)
        day = uptime.daily(pairs, start, NEW_YORK, datetime(2018, 8, 31, 12, tzinfo=NEW_YORK))[0]
        assert (day.date, day.major_outage_seconds, day.partial_outage_seconds) == (date(2018, 8, 30), 15060, 0)
        assert day.uptime == 82.57
        # AND the history starts with the backfill, years before the component was created
        assert start == datetime(2018, 8, 30, 22, 18, tzinfo=UTC)
    # AND in UTC the same outage splits over two days (the page's zone decides)
    pairs = [(parse_ts(c.changed_at), c.status) for c in store(stack).component_history("smtp-email", "2018")]
    utc = uptime.daily(pairs, uptime.history_start(datetime.now(UTC), pairs), UTC,
                       datetime(2018, 8, 31, 12, tzinfo=UTC))
    assert [(d.date.isoformat(), d.major_outage_seconds) for d in utc] == [("2018-08-30", 6120),
                                                                           ("2018-08-31", 8940)]


def test_replaying_the_seed_again_writes_no_history_twice(stack: Any) -> None:
    replay(http_sender(stack.api_url, STAFF_TOKEN), read_plans(SEED), key_prefix="uptime-seed")
    stack.wait_idle(timeout=30)
    changes = store(stack).component_history("smtp-email", "2018")
    assert [c.source for c in changes].count("backfill") == 2


def served_uptime(stack: Any) -> dict[str, Any]:
    reply = http(f"{stack.api_url}/uptime.json")
    assert reply.status == 200, reply.raw[:200]
    assert reply.headers["Content-Type"].startswith("application/json")
    return {c["id"]: c for c in reply.json["components"]}


def test_a_live_outage_moves_today_in_uptime_json(stack: Any, api: Api) -> None:
    # GIVEN a component, all up today
    api("PUT", "/v1/components/uptime-api", {"name": "Uptime API", "position": 9})
    stack.wait_idle(timeout=30)
    today = datetime.now(NEW_YORK).date().isoformat()
    before = served_uptime(stack)["uptime-api"]
    assert before["days"] == [{"date": today, "uptime": 100.0, "major_outage_seconds": 0,
                               "partial_outage_seconds": 0}]  # created today: one day, not 90
    assert before["uptime_90d"] == 100.0 and before["name"] == "Uptime API"
    # WHEN a live incident takes it down for a few seconds and is resolved
    created = api("POST", "/v1/incidents", {"name": "API down", "status": "investigating", "body": "Down.",
                                            "components": {"uptime-api": "major_outage"}})
    assert created.status == 201
    stack.wait_idle(timeout=30)
    time.sleep(2)
    resolved = api("POST", f"/v1/incidents/{created.json['id']}/updates",
                   {"status": "resolved", "body": "Up.", "components": {"uptime-api": "operational"}})
    assert resolved.status == 201
    stack.wait_idle(timeout=30)
    # THEN today's entry holds the outage, and the 90-day figure with it
    after = served_uptime(stack)["uptime-api"]
    [day] = after["days"]
    assert day["date"] == today and day["major_outage_seconds"] >= 2 and day["partial_outage_seconds"] == 0
    local_day = date.fromisoformat(today)
    seconds = (uptime.day_start(local_day + timedelta(days=1), NEW_YORK) - uptime.day_start(local_day, NEW_YORK))
    expected = round(100 - day["major_outage_seconds"] / seconds.total_seconds() * 100, 2)
    assert day["uptime"] == expected and after["uptime_90d"] == expected
    # AND the history says what did it
    sources = [c.source for c in store(stack).component_history("uptime-api", "2000")]
    assert sources == ["put", "incident", "incident"]
    # AND the seed's components, backfilled in 2018, are up for all of the last 90 days
    seed = served_uptime(stack)["smtp-email"]
    assert len(seed["days"]) == 90 and seed["uptime_90d"] == 100.0


def test_a_backfill_and_its_correction_move_the_served_uptime(stack: Any, api: Api) -> None:
    # The publisher keeps each component's window between renders (an UPT# rollup) and reads a
    # history again only when the component's history mark moved: a backfill or a correction
    # moves the history without changing the live component, the case a stale rollup would miss.
    # GIVEN a component rendered with a clean window
    api("PUT", "/v1/components/uptime-backfill", {"name": "Uptime backfill", "position": 10})
    stack.wait_idle(timeout=30)
    assert sum(d["major_outage_seconds"] for d in served_uptime(stack)["uptime-backfill"]["days"]) == 0
    # WHEN an hour of major outage three days ago is backfilled (display times in the past)
    past = (datetime.now(UTC) - timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    opened = api("POST", "/v1/incidents", {"name": "Past outage", "status": "investigating", "body": "Down.",
                                           "display_at": past.isoformat(),
                                           "components": {"uptime-backfill": "major_outage"}})
    assert opened.status == 201, opened.raw
    ended = api("POST", f"/v1/incidents/{opened.json['id']}/updates",
                {"status": "resolved", "body": "Up.", "display_at": (past + timedelta(hours=1)).isoformat(),
                 "components": {"uptime-backfill": "operational"}})
    assert ended.status == 201, ended.raw
    stack.wait_idle(timeout=30)
    # THEN the served window holds that hour, and the live component is untouched
    served = served_uptime(stack)["uptime-backfill"]
    assert sum(d["major_outage_seconds"] for d in served["days"]) == 3600
    assert {c.id: c.status for c in store(stack).list_components()}["uptime-backfill"] == "operational"
    # WHEN the resolving update's display time is corrected an hour later
    [last] = [u for u in ended.json["incident_updates"] if u["status"] == "resolved"]
    corrected = api("PATCH", f"/v1/incidents/{opened.json['id']}/updates/{last['id']}",
                    {"display_at": (past + timedelta(hours=2)).isoformat()})
    assert corrected.status == 200, corrected.raw
    stack.wait_idle(timeout=30)
    # THEN the served window follows: two hours
    assert sum(d["major_outage_seconds"] for d in served_uptime(stack)["uptime-backfill"]["days"]) == 7200
    # AND the stored rollup is the one for the component's current history mark
    table = store(stack)
    [rev] = [rev for c, rev in table.components_with_history_revs() if c.id == "uptime-backfill"]
    assert table.uptime_rollups(["uptime-backfill"])["uptime-backfill"]["history_rev"] == rev


# --- the status page's 90-day bars, in a real browser (JavaScript off) ----------------

BAR_LAYOUT = """() => [...document.querySelectorAll('ol.bars')].map(bar => {
  const box = bar.getBoundingClientRect();
  const marks = [...bar.children].map(li => li.getBoundingClientRect());
  return {left: box.left, right: box.right, marks: marks.length,
          narrowest: Math.min(...marks.map(m => m.width)),
          inside: marks.every(m => m.left >= box.left - 0.5 && m.right <= box.right + 0.5)};
})"""


def test_the_status_page_shows_ninety_day_bars_readable_at_phone_width(stack: Any, browser: Any) -> None:
    from tests.e2e.test_pages_browser import PHONE

    today = datetime.now(NEW_YORK).date()
    page = browser.new_context(java_script_enabled=False, viewport=PHONE).new_page()
    # WHEN a reader opens the status page on a phone, after the outage above
    page.goto(stack.api_url + "/")
    # THEN each component has a bar of 90 marks, all inside the 390 px page, none vanishing
    layout = page.evaluate(BAR_LAYOUT)
    assert layout and all(bar["marks"] == 90 and bar["inside"] and bar["narrowest"] >= 2
                          for bar in layout), layout
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # AND today's mark of the component that was down says so in words, with the incident
    bar = page.get_by_role("list", name="Uptime API: uptime, last 90 days")
    last = bar.locator("li").last
    text = last.text_content() or ""
    label = f"{today:%b} {today.day}, {today.year}: "
    assert text.startswith(label) and text.endswith("uptime; incidents: API down"), text
    assert last.get_attribute("class") in ("u-99", "u-100")  # a few seconds down
    # AND the days before it existed say there is no data
    assert (bar.locator("li").first.text_content() or "").endswith(": no data")
    # AND under each bar its 90-day uptime
    totals = page.locator(".uptime-total strong").all_inner_texts()
    assert len(totals) == len(layout) and all(t.endswith(" % uptime") for t in totals), totals
    # AND the seed's 2018 outage is outside the window: its components are all up
    smtp = page.get_by_role("list", name="SMTP Email: uptime, last 90 days")
    assert {li.get_attribute("class") for li in smtp.locator("li").all()} == {"u-100"}
