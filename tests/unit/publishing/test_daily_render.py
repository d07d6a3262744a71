"""The daily render (`RenderPlan.daily`, the `{"render": "daily"}` schedule just
after midnight in the page's zone): the date moved and nothing was posted, so
what shows days renders, and only that (docs/feeds-and-pages.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from status_fanout.publishing.publisher import UPTIME_KEY, RenderPlan, SiteState, render
from tests.unit.publishing.test_feeds import SETTINGS, seed_components


def test_the_daily_plan_renders_the_uptime_and_no_list_feed_or_calendar() -> None:
    # GIVEN the daily plan
    plan = RenderPlan.daily()
    # THEN it is something to render, with the uptime, and it touches no incident, component or maintenance
    assert plan and plan.uptime
    assert not (plan.incident_lists or plan.maintenance_lists or plan.components or plan.everything)
    assert (plan.incident_ids, plan.component_ids, plan.changed_component_ids) == (set(), set(), set())
    # AND an empty stream batch is still nothing to render
    assert not RenderPlan.from_stream_records([])


def test_five_past_midnight_the_bars_and_uptime_json_end_with_the_new_day() -> None:
    # GIVEN the seed's components and 00:05 in New York (05:05 UTC) on the day after the spring change
    now = datetime(2026, 3, 9, 4, 5, tzinfo=UTC)  # 00:05 EDT
    state = SiteState(seed_components(), [], [], [], [], now=now)
    # WHEN the daily plan renders
    artifacts = render(RenderPlan.daily(), state, SETTINGS)
    # THEN the page with its bars and /uptime.json render, with the JSON every render has, and nothing else
    assert {"index.html", UPTIME_KEY, "api/v2/status.json", "api/v2/summary.json"} <= set(artifacts)
    assert not {key for key in artifacts if key.startswith(("incidents", "history", "components/", "subscribe"))
                or key.endswith((".ics", "components.json", "maintenances.json", "incidents.json"))}
    # AND the window ends with the new day in the page's zone (UTC is still on the 9th too; New York's 8th is gone)
    document = json.loads(artifacts[UPTIME_KEY].body)
    days = document["components"][0]["days"]
    assert len(days) == 90 and days[-1]["date"] == "2026-03-09" and days[-2]["date"] == "2026-03-08"
    # AND so do the page's bars (their last mark is the 9th's; the 90 days no longer hold Dec 9)
    page = artifacts["index.html"].body.decode()
    assert "Mar 9, 2026: 100" in page and "Dec 9, 2025:" not in page


def test_after_midnight_in_new_york_but_before_it_in_utc_the_window_still_moves_on() -> None:
    # GIVEN 00:05 in New York (05:05 UTC) ... and the hour before, still the day before in New York
    before = datetime(2026, 11, 28, 4, 5, tzinfo=UTC)  # 23:05 EST on the 27th
    after = datetime(2026, 11, 28, 5, 5, tzinfo=UTC)  # 00:05 EST on the 28th
    rendered = [json.loads(render(RenderPlan.daily(), SiteState(seed_components(), [], [], [], [], now=now),
                                  SETTINGS)[UPTIME_KEY].body) for now in (before, after)]
    # THEN the daily render moves the window on by one New York day
    assert [r["components"][0]["days"][-1]["date"] for r in rendered] == ["2026-11-27", "2026-11-28"]
