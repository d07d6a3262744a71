"""Scheduled maintenance as feed readers and visitors of the status page see
it: entries in the page's and its components' feeds (feedparser, bozo 0), a
"Scheduled maintenance" section on `/` with times in the page's zone, and the
maintenance's own page."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import feedparser
import lxml.html

from status_fanout.publishing import feeds, pages
from status_fanout.publishing.publisher import Publisher
from tests.unit.publishing.test_feeds import SETTINGS, seed_incident
from tests.unit.publishing.test_maintenance_documents import NOW, Page, full_render
from tests.unit.publishing.test_render_everything import FakeBucket, FakeStore

SITE = feeds.FeedSite.from_settings(SETTINGS)
# An update in an entry's content, as feedparser hands it over (<br> written <br />).
LINE = re.compile(r"<p><small>(?P<time>.*?)</small><br\s*/?><strong>(?P<label>.*?)</strong> - (?P<text>.*?)</p>", re.S)


def plain(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment.replace("<br />", "\n")))


def css(selector: str) -> str:
    """The XPath of a simple selector: `tag.class.class[attr=value] tag.class > tag` (what these tests use)."""
    steps, axis = [], "//"
    for part in selector.split():
        if part == ">":
            axis = "/"
            continue
        match = re.fullmatch(r"(\w*)((?:\.[\w-]+)*)(?:\[([\w-]+)=([\w-]+)\])?", part)
        assert match, part
        tag, classes, attr, value = match.groups()
        tests = [f"contains(concat(' ', @class, ' '), ' {c} ')" for c in classes.split(".") if c]
        if attr:
            tests.append(f"@{attr}='{value}'")
        steps.append(axis + (tag or "*") + "".join(f"[{t}]" for t in tests))
        axis = "//"
    return "".join(steps)


def text_of(source: str, selector: str) -> list[str]:
    return [re.sub(r"\s+", " ", e.text_content()).strip() for e in lxml.html.fromstring(source).xpath(css(selector))]


# --- feeds ----------------------------------------------------------------------------

def test_a_maintenance_is_an_entry_of_the_page_feed_with_its_window_and_updates() -> None:
    # GIVEN a maintenance that was announced, reminded of and started, beside the seed incident
    page = Page()
    started = page.start(page.schedule(starts_in=timedelta(days=3), lasts=timedelta(hours=2)))
    incident, updates = seed_incident()
    artifacts = full_render(page, [started], [(incident, updates)])
    for key in ("history.rss", "history.atom"):
        # WHEN a feed reader reads the page's feed
        parsed = feedparser.parse(artifacts[key].body)
        # THEN it is valid and holds both, the maintenance (announced later) first
        assert parsed.bozo == 0, (key, parsed.get("bozo_exception"))
        assert [e.title for e in parsed.entries] == ["Mail database upgrade", "Mail platform outage"]
        entry = parsed.entries[0]
        assert entry.link == f"https://status.example.com/incidents/{started[0].id}"
        assert entry.id == f"tag:status.example.com,2026-11-28:Incident/{started[0].id}"
        content = entry.content[0].value if key.endswith("atom") else entry.description
        # AND its content starts with the window in the page's time zone, as Statuspage's does
        assert plain(content).startswith("THIS IS A SCHEDULED EVENT Dec  1, 07:00 - 09:00 EST")
        # AND then every update, newest first, labelled by its step
        assert [(m["label"], plain(m["time"])) for m in LINE.finditer(content)] == [
            ("In progress", "Dec  1, 07:00 EST"), ("Reminder", "Dec  1, 06:00 EST"),
            ("Scheduled", "Nov 28, 07:00 EST")]


def test_a_cancelled_maintenance_says_so_in_its_entry() -> None:
    page = Page()
    cancelled = page.cancel(page.schedule(starts_in=timedelta(days=3)))
    parsed = feedparser.parse(full_render(page, [cancelled])["history.rss"].body)
    assert parsed.bozo == 0
    content = plain(parsed.entries[0].description)
    assert content.startswith("THIS SCHEDULED EVENT WAS CANCELLED Dec  1, 07:00 - 09:00 EST")
    assert "Cancelled - This scheduled maintenance has been cancelled." in content


def test_a_window_over_days_and_a_clock_change_shows_both_ends_in_full() -> None:
    # the clocks go back on Nov 1, 2026 in New York
    assert feeds.window_html("2026-10-31T22:00:00.000Z", "2026-11-01T08:00:00.000Z", SITE.tz) == (
        "Oct <var data-var='date'>31</var>, <var data-var='time'>18:00</var> EDT - "
        "Nov <var data-var='date'> 1</var>, <var data-var='time'>03:00</var> EST")


def test_a_components_feed_holds_the_maintenances_that_touch_it() -> None:
    # GIVEN the seed incident (on every Email component) and two maintenances, one on
    # SMTP Email and one on Email Marketing
    page = Page()
    smtp = page.schedule("SMTP relay swap", component_ids=("smtp-email",))
    marketing = page.schedule("List server upgrade", component_ids=("email-marketing",))
    incident, updates = seed_incident()
    store, bucket = FakeStore([(incident, updates), smtp, marketing], page.components), FakeBucket()
    # WHEN everything is published
    Publisher(store, SETTINGS, s3=bucket).publish_all()
    # THEN each component's feed holds its own maintenance, and the incidents that touched it
    for component, expected in (("smtp-email", ["SMTP relay swap", "Mail platform outage"]),
                                ("email-marketing", ["List server upgrade", "Mail platform outage"]),
                                ("pop3-imap-email", ["Mail platform outage"])):
        for ext in ("rss", "atom"):
            parsed = feedparser.parse(bucket.objects[f"components/{component}/history.{ext}"])
            assert parsed.bozo == 0
            assert [e.title for e in parsed.entries] == expected, (component, ext)


# --- the status page --------------------------------------------------------------------

def test_the_status_page_shows_upcoming_maintenance_with_its_window_in_local_time() -> None:
    # GIVEN one maintenance under way and two upcoming, one of them over two days
    page = Page()
    active = page.start(page.schedule("Queue migration", starts_in=timedelta(days=1),
                                      component_ids=("transactional-emails",)))
    soon = page.schedule("Mail database upgrade", starts_in=timedelta(days=3))
    later = page.schedule("Data centre move", starts_in=timedelta(days=9, hours=10), lasts=timedelta(hours=8),
                          component_ids=("smtp-email", "pop3-imap-email"))
    source = full_render(page, [later, soon, active])["index.html"].body.decode()
    # WHEN a visitor opens the page
    section = text_of(source, "section[aria-labelledby=maintenance-heading]")
    assert len(section) == 1 and section[0].startswith("Scheduled maintenance")
    articles = text_of(source, "article.maintenance")
    # THEN the one under way comes first, highlighted as in progress
    assert text_of(source, "article.maintenance.active h3") == ["Queue migration"]
    assert text_of(source, "article.maintenance.active .state") == ["In progress"]
    assert articles[0].startswith("Queue migration In progress · Nov 29, 2026 - 07:00 – 09:00 EST")
    # AND the upcoming ones follow, soonest first, with their windows in the page's time zone
    assert articles[1].startswith("Mail database upgrade Scheduled · Dec 1, 2026 - 07:00 – 09:00 EST")
    assert articles[2].startswith("Data centre move Scheduled · Dec 7, 2026 - 17:00 EST – Dec 8, 2026 - 01:00 EST")
    assert "Affects: SMTP Email, POP3/IMAP Email" in articles[2]
    # AND the component under maintenance says so, and the banner too
    rows = dict(zip(text_of(source, ".components .row .name"), text_of(source, ".components .row .status"),
                    strict=True))
    assert rows["Transactional Emails"] == "Under Maintenance"
    assert text_of(source, "p.banner") == ["Service Under Maintenance"]
    # AND each links to its own page, and the times carry their UTC instant
    assert lxml.html.fromstring(source).xpath(css("article.maintenance h3 a"))[1].get("href") == (
        f"/incidents/{soon[0].id}")
    assert '<time datetime="2026-12-01T12:00:00.000Z">' in source


def test_no_maintenance_no_section() -> None:
    source = full_render(Page(), [])["index.html"].body.decode()
    assert "Scheduled maintenance" not in source
    page = Page()
    done = page.complete(page.schedule())
    assert "maintenance-heading" not in full_render(page, [done])["index.html"].body.decode()


def test_a_maintenances_own_page_shows_its_window_and_its_steps() -> None:
    page = Page()
    done = page.complete(page.schedule(starts_in=timedelta(days=3)))
    source = full_render(page, [done])[f"incidents/{done[0].id}"].body.decode()
    assert text_of(source, "h1") == ["Mail database upgrade"]
    assert text_of(source, "p.impact") == ["Completed · Scheduled maintenance"]
    assert text_of(source, "p.window") == ["Scheduled for Dec 1, 2026 - 07:00 – 09:00 EST"]
    assert [u.split(" - ", 1)[0] for u in text_of(source, "ol.updates > li")] == [
        "Completed", "In progress", "Reminder", "Scheduled"]
    assert "This maintenance affects: SMTP Email." in text_of(source, "main")[0]


def test_a_cancelled_maintenances_page_says_cancelled() -> None:
    page = Page()
    cancelled = page.cancel(page.schedule(starts_in=timedelta(days=3)))
    source = full_render(page, [cancelled])[f"incidents/{cancelled[0].id}"].body.decode()
    assert text_of(source, "p.impact") == ["Cancelled · Scheduled maintenance"]
    assert text_of(source, "p.window") == ["Was scheduled for Dec 1, 2026 - 07:00 – 09:00 EST"]
    assert text_of(source, "ol.updates > li .label") == ["Cancelled", "Scheduled"]


def test_hostile_maintenance_text_stays_text_and_the_css_keeps_its_hash() -> None:
    page = Page()
    name, body = "<script>x()</script>Move & <b>go</b>", '<img src=x onerror="y()"> "now"'
    hostile = page.schedule(name, body=body, now=NOW)
    artifacts: dict[str, Any] = full_render(page, [hostile])
    for key in ("index.html", f"incidents/{hostile[0].id}"):
        source = artifacts[key].body.decode()
        assert "<script>x()" not in source and "<img src=x" not in source, key
        assert name in lxml.html.fromstring(source).text_content(), key
        # the CSP still pins the one stylesheet, by the hash of what is inlined
        css, css_hash = pages._css()
        assert f"style-src '{css_hash}'" in source and str(css) in source
    assert feedparser.parse(artifacts["history.rss"].body).entries[0].title == name
