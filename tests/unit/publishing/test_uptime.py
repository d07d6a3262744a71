"""Daily uptime (publishing/uptime.py): Statuspage's figure per page-zone day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from status_fanout.publishing import uptime

NEW_YORK = ZoneInfo("America/New_York")
CREATED = datetime(2026, 1, 1, 12, tzinfo=UTC)


def at(day: date, hour: int, minute: int = 0, tz: ZoneInfo = NEW_YORK) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def test_a_day_with_a_major_and_a_partial_outage() -> None:
    # GIVEN a day with 30 minutes of major and 60 minutes of partial outage (and degraded, which counts as up)
    day = date(2026, 2, 10)
    changes = [(at(day, 9), "major_outage"), (at(day, 9, 30), "partial_outage"), (at(day, 10, 30), "operational"),
               (at(day, 14), "degraded_performance"), (at(day, 15), "under_maintenance"),
               (at(day, 16), "operational")]
    # WHEN the day is computed
    [result] = uptime.daily(changes, CREATED, NEW_YORK, at(day, 23, 59), first_day=day)
    # THEN 100 − (1800 + 0.3 × 3600) / 86400 × 100 = 96.6667, shown as 96.67
    assert (result.major_outage_seconds, result.partial_outage_seconds, result.seconds) == (1800, 3600, 86400)
    assert result.uptime == 96.67
    assert uptime.days_json([result]) == [{"date": "2026-02-10", "uptime": 96.67, "major_outage_seconds": 1800,
                                           "partial_outage_seconds": 3600}]


def test_an_outage_across_midnight_in_the_page_zone_splits_between_the_days() -> None:
    # GIVEN a major outage from 23:00 to 01:00 New York time (04:00-06:00 UTC: one UTC day)
    changes = [(at(date(2026, 2, 10), 23), "major_outage"), (at(date(2026, 2, 11), 1), "operational")]
    days = uptime.daily(changes, CREATED, NEW_YORK, at(date(2026, 2, 12), 12), first_day=date(2026, 2, 10))
    # THEN each New York day holds one hour of it
    assert [(d.date.isoformat(), d.major_outage_seconds) for d in days] == [
        ("2026-02-10", 3600), ("2026-02-11", 3600), ("2026-02-12", 0)]
    assert [d.uptime for d in days] == [95.83, 95.83, 100.0]
    # AND in UTC it is one day of two hours
    utc = uptime.daily(changes, CREATED, UTC, datetime(2026, 2, 11, 12, tzinfo=UTC), first_day=date(2026, 2, 11))
    assert [(d.date.isoformat(), d.major_outage_seconds) for d in utc] == [("2026-02-11", 7200)]


def test_dst_days_have_their_real_length() -> None:
    # GIVEN a component down all of the two DST-change days in New York
    spring, autumn = date(2026, 3, 8), date(2026, 11, 1)
    for day, hours in ((spring, 23), (autumn, 25)):
        changes = [(at(day, 0), "major_outage"), (at(day + timedelta(days=1), 0), "operational")]
        result, after = uptime.daily(changes, CREATED, NEW_YORK, at(day + timedelta(days=1), 1), first_day=day)
        # THEN the day has 23 (25) hours, all of them down
        assert result.seconds == result.major_outage_seconds == hours * 3600
        assert result.uptime == 0.0 and after.major_outage_seconds == 0
    # AND an hour of partial outage weighs against the day's own length
    changes = [(at(autumn, 12), "partial_outage"), (at(autumn, 13), "operational")]
    [result] = uptime.daily(changes, CREATED, NEW_YORK, at(autumn, 23), first_day=autumn)
    assert result.uptime == round(100 - 0.3 * 3600 / (25 * 3600) * 100, 2) == 98.8


def test_a_component_created_mid_window_has_fewer_days_and_its_creation_day_counts_whole() -> None:
    # GIVEN a component created at 18:00 New York time 10 days ago, down for 6 hours the next day
    now = at(date(2026, 5, 20), 12)
    created = at(date(2026, 5, 10), 18)
    changes = [(created, "operational"), (at(date(2026, 5, 11), 0), "major_outage"),
               (at(date(2026, 5, 11), 6), "operational")]
    days = uptime.window(changes, created, NEW_YORK, now)
    # THEN its window starts on the creation day: 11 days, not 90
    assert len(days) == 11 and days[0].date == date(2026, 5, 10) and days[-1].date == date(2026, 5, 20)
    # AND the creation day counts whole (the hours before 18:00 are up)
    assert days[0].seconds == 86400 and days[0].uptime == 100.0
    assert days[1].major_outage_seconds == 6 * 3600 and days[1].uptime == 75.0
    # AND the 90-day uptime is weighted over the 11 days present
    assert uptime.overall(days) == round(100 - 6 * 3600 / (11 * 86400) * 100, 2) == 97.73


def test_an_old_component_has_ninety_days_and_changes_after_now_are_ignored() -> None:
    now = datetime(2026, 5, 20, 12, tzinfo=UTC)
    changes = [(now + timedelta(hours=1), "major_outage")]
    days = uptime.window(changes, CREATED, UTC, now)
    assert len(days) == 90 and days[-1].date == date(2026, 5, 20)
    assert uptime.overall(days) == 100.0 and uptime.overall([]) == 100.0


def test_an_outage_still_going_counts_until_now_over_the_whole_day() -> None:
    now = datetime(2026, 5, 20, 12, tzinfo=UTC)
    changes = [(datetime(2026, 5, 20, 6, tzinfo=UTC), "major_outage")]
    [today] = uptime.daily(changes, CREATED, UTC, now, first_day=now.date())
    assert today.major_outage_seconds == 6 * 3600 and today.uptime == 75.0


def test_uptime_json_holds_each_component_s_window_in_page_order() -> None:
    import json

    from status_fanout.publishing.publisher import RenderPlan, SiteState, render
    from tests.unit.publishing.test_feeds import SETTINGS, seed_components

    # GIVEN the seed's components (created in 2018) and an hour of major outage of SMTP this morning (New York)
    now = datetime(2026, 3, 8, 20, tzinfo=UTC)  # 16:00 EDT, the 23-hour day
    changes = {"smtp-email": [(at(now.date(), 9), "major_outage"), (at(now.date(), 10), "operational")]}
    components = seed_components()
    days = {c.id: uptime.component_window(datetime.fromisoformat(c.created_at), changes.get(c.id, []), NEW_YORK, now)
            for c in components.values()}
    state = SiteState(components, [], [], [], [], uptime_days=days, now=now)
    # WHEN a component change renders
    document = json.loads(render(RenderPlan(components=True), state, SETTINGS)["uptime.json"].body)
    # THEN every component is there, in page order, with its last 90 New York days ending today
    assert [c["id"] for c in document["components"]] == ["smtp-email", "transactional-emails", "email-marketing",
                                                         "pop3-imap-email"]
    smtp = document["components"][0]
    assert len(smtp["days"]) == 90 and smtp["days"][-1] == {
        "date": "2026-03-08", "uptime": round(100 - 3600 / (23 * 3600) * 100, 2), "major_outage_seconds": 3600,
        "partial_outage_seconds": 0}
    assert smtp["days"][-1]["uptime"] == 95.65 and smtp["days"][0]["date"] == "2025-12-09"
    assert smtp["uptime_90d"] == round(100 - 3600 / (89 * 86400 + 23 * 3600) * 100, 2) == 99.95
    assert document["components"][1]["uptime_90d"] == 100.0
    assert document["page"]["name"] == "Bottlenose"


def test_the_status_page_shows_each_component_s_ninety_day_bar_with_words_for_every_day() -> None:
    import lxml.html

    from status_fanout.publishing import pages
    from tests.unit.publishing.test_feeds import SETTINGS, seed_components, seed_incident

    # GIVEN the seed's components, and the seed incident moved to yesterday (New York), 4 h 11 min down
    incident, _ = seed_incident()
    now = datetime(2026, 3, 9, 16, tzinfo=UTC)
    incident = incident.model_copy(update={"started_at": "2026-03-08T22:18:00.000Z",
                                           "resolved_at": "2026-03-09T02:29:00.000Z"})
    changes = [(datetime(2026, 3, 8, 22, 18, tzinfo=UTC), "major_outage"),
               (datetime(2026, 3, 9, 2, 29, tzinfo=UTC), "operational")]
    components = seed_components()
    days = {c: uptime.component_window(CREATED, changes if c == "smtp-email" else [], NEW_YORK, now)
            for c in components}
    # WHEN the page renders
    html = pages.index_page(SETTINGS, components.values(), [], [incident], uptime_days=days, now=now)
    tree = lxml.html.fromstring(html)
    # THEN every component has 90 marks, oldest first, each saying its day in words
    bars = tree.xpath("//ol[@class='bars']")
    assert len(bars) == 4 and bars[0].get("aria-label") == "SMTP Email: uptime, last 90 days"
    marks = bars[0].xpath("li")
    assert len(marks) == 90
    assert [m.get("class") for m in marks[-2:]] == ["u-0", "u-100"]
    yesterday = marks[-2].text_content()
    # 100 - 15060 / 82800 * 100: the 23-hour day
    assert yesterday == "Mar 8, 2026: 81.81 % uptime; incidents: Mail platform outage"
    assert marks[-2].get("title") == yesterday
    assert marks[-1].text_content() == "Mar 9, 2026: 100.00 % uptime; no incidents"
    # AND under it the 90-day uptime
    # (over the 68 days since CREATED, Jan 1: 100 - 15060 / (67 * 86400 + 82800) * 100)
    assert tree.xpath("//p[@class='uptime-total']/strong")[0].text_content() == "99.74 % uptime"
    assert [m.get("class") for m in marks].count("u-none") == 22
    # AND a component younger than 90 days shows no data before its first day
    young = {"smtp-email": uptime.component_window(datetime(2026, 3, 1, tzinfo=UTC), [], NEW_YORK, now)}
    html = pages.index_page(SETTINGS, [components["smtp-email"]], [], [], uptime_days=young, now=now)
    marks = lxml.html.fromstring(html).xpath("//ol[@class='bars']/li")
    # (created Mar 1, 00:00 UTC: Feb 28, 19:00 in New York, its first day; no data Dec 10 to Feb 27)
    assert [m.get("class") for m in marks].count("u-none") == 80
    assert marks[0].text_content() == "Dec 10, 2025: no data"
    # AND no script anywhere
    assert "<script" not in html


def test_an_open_incident_is_named_once_in_a_day_s_words() -> None:
    from status_fanout.publishing import pages
    from tests.unit.publishing.test_feeds import SETTINGS, seed_components, seed_incident

    # GIVEN the seed incident open today, so it is both unresolved and in the recent history
    incident, updates = seed_incident()
    now = datetime(2026, 3, 9, 16, tzinfo=UTC)
    incident = incident.model_copy(update={"started_at": "2026-03-09T14:00:00.000Z", "resolved_at": None})
    components = seed_components()
    days = {c: uptime.component_window(CREATED, [], NEW_YORK, now) for c in components}
    # WHEN the page renders
    html = pages.index_page(SETTINGS, components.values(), [(incident, updates)], [incident], uptime_days=days,
                            now=now)
    # THEN today's words name it once
    assert "; incidents: Mail platform outage</span>" in html
    assert "Mail platform outage, Mail platform outage" not in html


def test_a_hostile_incident_name_in_a_day_s_words_is_text_not_markup() -> None:
    import lxml.html

    from status_fanout.publishing import pages
    from tests.unit.publishing.test_feeds import SETTINGS, seed_components, seed_incident

    # GIVEN an open incident whose name is markup, with quotes that would end the title attribute
    hostile = "\"><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"
    incident, updates = seed_incident()
    now = datetime(2026, 3, 9, 16, tzinfo=UTC)
    incident = incident.model_copy(update={"name": hostile, "started_at": "2026-03-09T14:00:00.000Z",
                                           "resolved_at": None})
    components = seed_components()
    days = {c: uptime.component_window(CREATED, [], NEW_YORK, now) for c in components}
    # WHEN the page renders its bars
    html = pages.index_page(SETTINGS, components.values(), [(incident, updates)], [incident], uptime_days=days,
                            now=now)
    # THEN no element came from the name, and today's mark says it as written, in its tooltip too
    page = lxml.html.fromstring(html)
    assert not page.xpath("//script") and not page.xpath("//img")
    today = page.xpath("//ol[@class='bars']/li")[-1]
    assert today.get("title") == today.text_content() == f"Mar 9, 2026: 100.00 % uptime; incidents: {hostile}"


def test_a_rollup_brings_today_up_to_date_exactly_as_the_history_would() -> None:
    import random

    rng = random.Random(14)
    statuses = ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
    # GIVEN random histories of components created 120 days before a DST day (New York's 25-hour day)
    today = date(2026, 11, 1)
    for _ in range(200):
        created = at(today, 12) - timedelta(days=rng.randint(0, 120))
        changes = sorted((created + timedelta(minutes=rng.randint(0, 120 * 1440 + 1200)), rng.choice(statuses))
                         for _ in range(rng.randint(0, 30)))
        # WHEN a rollup is made at one instant of the day and stored (its fields) and read back
        first = at(today, 0, 30) + timedelta(minutes=rng.randint(0, 600))
        later = first + timedelta(minutes=rng.randint(0, 700))
        made, days = uptime.rollup(created, changes, NEW_YORK, "America/New_York", first, "rev-1")
        assert days == uptime.component_window(created, changes, NEW_YORK, first)
        if made is None:  # a history that begins after `first`
            assert created > first
            continue
        kept = uptime.Rollup.from_fields(made.as_fields())
        assert kept is not None
        # THEN at a later instant of the same day it gives what the whole history gives
        assert kept == made and kept.holds("rev-1", "America/New_York", today)
        assert kept.days_at(NEW_YORK, later) == uptime.component_window(created, changes, NEW_YORK, later)
    # AND it does not hold for another history mark, zone or day
    assert not kept.holds("rev-2", "America/New_York", today)
    assert not kept.holds("rev-1", "UTC", today)
    assert not kept.holds("rev-1", "America/New_York", today + timedelta(days=1))
