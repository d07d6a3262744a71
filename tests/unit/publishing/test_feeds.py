"""Feeds as pure functions: the seed incident in, Statuspage-shaped RSS and Atom out."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from status_fanout.incidents import lifecycle
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.publishing import feeds
from status_fanout.publishing.publisher import RenderPlan, SiteState, render
from status_fanout.settings import PageSettings, Settings

SEED = Path(__file__).resolve().parents[3] / "events" / "seed" / "mail-platform-outage.json"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
SETTINGS = Settings(table_name="t",
                    page=PageSettings(name="Bottlenose", url="https://status.example.com",
                                      time_zone="America/New_York"))
SITE = feeds.FeedSite.from_settings(SETTINGS)


def parse_xml(raw: bytes) -> ET.Element:
    return ET.fromstring(raw)  # noqa: S314 - our own renderer's output


def seed_components() -> dict[str, Component]:
    doc = json.loads(SEED.read_text())
    return {c["id"]: Component(**c, created_at="2018-01-01T00:00:00.000Z", updated_at="2018-01-01T00:00:00.000Z")
            for c in doc["components"]}


def seed_incident(upto: int | None = None, postmortem: bool = True) -> tuple[Incident, list[IncidentUpdate]]:
    """The seed built through the lifecycle rules, as the API builds it."""
    doc = json.loads(SEED.read_text())["incident"]
    components = seed_components()
    first, *rest = doc["updates"][:upto]
    incident, update = lifecycle.open_incident(
        name=doc["name"], status=first["status"], body=first["body"], impact="critical",
        requested_components=first.get("components"), notify=False,
        display_at=datetime.fromisoformat(first["display_at"]), components=components, now=NOW)
    updates = [update]
    for item in rest:
        incident, update = lifecycle.add_update(
            incident, updates, status=item["status"], body=item["body"], impact=None,
            requested_components=item.get("components"), notify=False,
            display_at=datetime.fromisoformat(item["display_at"]), components=components, now=NOW)
        updates.append(update)
    if postmortem and upto is None:
        incident = lifecycle.publish_postmortem(
            incident, body=doc["postmortem"]["body"], notify=False,
            display_at=datetime.fromisoformat(doc["postmortem"]["display_at"]), now=NOW)
    return incident, updates


def test_history_is_newest_first_with_statuspage_labels_and_the_postmortem_on_top() -> None:
    incident, updates = seed_incident()
    lines = feeds.history(incident, updates)
    assert [line.label for line in lines] == [
        "Postmortem", "Resolved", "Monitoring", "Update", "Identified", "Update", "Investigating"]
    assert lines[-1].body == "We have seen a major outrage with our email service platform"
    assert lines[0].update_id is None and all(line.update_id for line in lines[1:])


def test_content_is_statuspage_html_in_the_page_time_zone() -> None:
    incident, updates = seed_incident()
    html = feeds.content_html(feeds.history(incident, updates), SITE.tz)
    assert html.endswith(
        "<p><small>Aug <var data-var='date'>30</var>, <var data-var='time'>18:18</var> EDT</small><br>"
        "<strong>Investigating</strong> - We have seen a major outrage with our email service platform</p>")
    assert "<var data-var='time'>22:44</var> EDT</small><br><strong>Postmortem</strong>" in html
    # the postmortem's paragraphs keep their line breaks, as Statuspage's <br />
    assert "caused by this incident.<br /><br />At approximately" in html


def test_single_digit_days_are_space_padded_like_statuspage() -> None:
    assert feeds.short_time_html("2022-03-09T14:05:00.000Z", feeds.zone("Etc/UTC")) == (
        "Mar <var data-var='date'> 9</var>, <var data-var='time'>14:05</var> UTC")
    # winter time in the same zone is EST
    assert feeds.short_time_html("2022-01-10T15:00:00.000Z", SITE.tz).endswith("10:00</var> EST")


def test_an_unknown_time_zone_falls_back_to_utc() -> None:
    assert feeds.zone("Mars/Olympus_Mons") is UTC


def test_text_is_escaped_and_line_breaks_kept() -> None:
    assert feeds.text_html("a <b> & 'c'\r\nd") == "a &lt;b&gt; &amp; 'c'<br />d"


def test_both_feeds_parse_and_agree() -> None:
    incident, updates = seed_incident()
    rss, atom = feeds.render(SITE, feeds.page_feed(SITE), [(incident, updates)])
    for raw in (rss, atom):
        parsed = feedparser.parse(raw)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        [entry] = parsed.entries
        assert entry.title == "Mail platform outage"
        assert entry.link == f"https://status.example.com/incidents/{incident.id}"
        assert entry.id == f"tag:status.example.com,2018-08-30:Incident/{incident.id}"
    assert parse_xml(atom).findtext(f"{ATOM}updated") == "2018-08-31T02:44:00+00:00"


def test_spliced_feeds_are_byte_for_byte_what_feedgen_writes() -> None:
    from feedgen.feed import FeedGenerator

    incident, updates = seed_incident()
    other = incident.model_copy(update={"id": "older", "started_at": "2017-01-01T00:00:00.000Z"})
    feed = feeds.page_feed(SITE)
    rss, atom = feeds.render(SITE, feed, [(other, updates), (incident, updates)])
    # feedgen writing the whole feed itself, entries included
    generator = FeedGenerator()
    generator.id(f"{SITE.page_url}/history.atom")
    generator.title(feed.title)
    generator.description(feed.description)
    generator.author(name=SITE.page_name)
    generator.link(href=SITE.page_url, rel="alternate", type="text/html")
    generator.language("en")
    generator.generator(feeds.GENERATOR)
    generator.updated(feeds.feed_entry(SITE, incident, updates).updated())
    for pair in ((incident, updates), (other, updates)):
        generator.add_entry(feeds.feed_entry(SITE, *pair), order="append")
    generator.link(href=f"{SITE.page_url}/history.atom", rel="self", type="application/atom+xml")
    assert atom == generator.atom_str(pretty=False)
    generator.link(href=f"{SITE.page_url}/history.rss", rel="self", type="application/rss+xml", replace=True)
    generator.link(href=SITE.page_url, rel="alternate", type="text/html")
    assert rss == generator.rss_str(pretty=False)


def test_rendering_twice_gives_the_same_bytes() -> None:
    incident, updates = seed_incident()
    first = feeds.render(SITE, feeds.page_feed(SITE), [(incident, updates)])
    feeds.clear_cache()
    assert feeds.render(SITE, feeds.page_feed(SITE), [(incident, updates)]) == first


def test_entry_id_is_stable_and_updated_moves_with_each_update() -> None:
    ids, stamps = set(), []
    for upto in range(1, 7):
        incident, updates = seed_incident(upto)
        incident = incident.model_copy(update={"id": "seedincident", "version": upto})
        _, atom = feeds.render(SITE, feeds.page_feed(SITE), [(incident, updates)])
        entry = parse_xml(atom).find(f"{ATOM}entry")
        assert entry is not None
        ids.add(entry.findtext(f"{ATOM}id"))
        stamps.append(entry.findtext(f"{ATOM}updated") or "")
    assert len(ids) == 1
    assert stamps == sorted(stamps) and len(set(stamps)) == 6


def test_a_correction_moves_updated_but_not_the_id() -> None:
    incident, updates = seed_incident()
    before = feeds.feed_entry(SITE, incident, updates)
    corrected, update = lifecycle.correct_update(incident, updates, updates[1].id, body="All of the instances",
                                                 display_at=None, now=NOW)
    after = feeds.feed_entry(SITE, corrected, [update if u.id == update.id else u for u in updates])
    assert after.id() == before.id()
    assert after.updated() > before.updated()
    assert "All of the instances" in after.content()["content"]


def test_feeds_hold_the_fifty_newest_incidents_newest_first() -> None:
    incident, updates = seed_incident(1)
    many = []
    for n in range(60):
        started = f"2020-01-{1 + n // 24:02d}T{n % 24:02d}:00:00.000Z"
        many.append((incident.model_copy(update={"id": f"inc{n:03d}", "started_at": started,
                                                 "created_at": started}), updates))
    rss, _ = feeds.render(SITE, feeds.page_feed(SITE), many)
    links = [e.link.rsplit("/", 1)[-1] for e in feedparser.parse(rss).entries]
    assert links == [f"inc{n:03d}" for n in range(59, 9, -1)]


def test_an_empty_feed_is_still_valid() -> None:
    for raw in feeds.render(SITE, feeds.component_feed(SITE, "smtp-email", "SMTP Email"), []):
        parsed = feedparser.parse(raw)
        assert parsed.bozo == 0 and parsed.entries == []
        assert parsed.feed.title == "Bottlenose Status - SMTP Email Incident History"


def test_hostile_names_and_bodies_stay_text() -> None:
    incident, updates = seed_incident(1)
    incident = incident.model_copy(update={"name": "<script>x()</script>]]>&"})
    updates = [updates[0].model_copy(update={"body": "<img src=x onerror=y()> </description>"})]
    rss, atom = feeds.render(SITE, feeds.page_feed(SITE), [(incident, updates)])
    for raw in (rss, atom):
        assert b"<script" not in raw and b"<img" not in raw and b"</description> " not in raw
        assert feedparser.parse(raw).bozo == 0
    item = parse_xml(rss).find("channel/item")
    assert item is not None and item.findtext("title") == "<script>x()</script>]]>&"
    assert "&lt;img src=x onerror=y()&gt; &lt;/description&gt;" in (item.findtext("description") or "")


# --- what the publisher renders for a change --------------------------------------

def state_for(incident: Incident, updates: list[IncidentUpdate], **extra: Any) -> SiteState:
    components = seed_components()
    history = {c: [(incident, updates)] for c in incident.component_ids}
    return SiteState(components, [], [incident], [(incident, updates)], [(incident, updates)], history, **extra)


def test_an_incident_change_renders_its_page_the_indexes_and_the_feeds_that_hold_it() -> None:
    incident, updates = seed_incident()
    artifacts = render(RenderPlan(incident_ids={incident.id}), state_for(incident, updates), SETTINGS, json=False)
    assert set(artifacts) == {
        "index.html", f"incidents/{incident.id}", "history.rss", "history.atom",
        *(f"components/{c}/history.{ext}" for c in incident.component_ids for ext in ("rss", "atom")),
    }
    assert artifacts["history.rss"].content_type == "application/rss+xml; charset=utf-8"
    assert artifacts[f"incidents/{incident.id}"].content_type == "text/html; charset=utf-8"


def component_record(old: dict[str, str] | None, new: dict[str, str]) -> dict[str, object]:
    change: dict[str, object] = {"Keys": {"pk": {"S": "COMP"}, "sk": {"S": "COMP#smtp-email"}},
                                 "NewImage": {k: {"S": v} for k, v in new.items()}}
    if old is not None:
        change["OldImage"] = {k: {"S": v} for k, v in old.items()}
    return {"dynamodb": change}


def test_a_component_status_change_renders_no_feed_and_no_subscribe_page() -> None:
    # GIVEN a component whose status moves, and nothing else about it
    incident, updates = seed_incident()
    plan = RenderPlan.from_stream_records([component_record({"name": "SMTP", "status": "operational"},
                                                            {"name": "SMTP", "status": "major_outage"})])
    # THEN only the page showing statuses renders (the subscribe page lists no status)
    artifacts = render(plan, state_for(incident, updates), SETTINGS, json=False)
    assert set(artifacts) == {"index.html"}


@pytest.mark.parametrize("old, new", [
    (None, {"name": "SMTP", "status": "operational"}),  # created (or rewritten whole)
    ({"name": "SMTP", "group": "Mail"}, {"name": "SMTP", "group": "Email"}),
    ({"name": "SMTP", "position": "1"}, {"name": "SMTP", "position": "2"}),
])
def test_a_component_created_regrouped_or_reordered_renders_the_subscribe_page(
        old: dict[str, str] | None, new: dict[str, str]) -> None:
    incident, updates = seed_incident()
    plan = RenderPlan.from_stream_records([component_record(old, new)])
    assert "subscribe" in render(plan, state_for(incident, updates), SETTINGS, json=False)


def test_a_renamed_component_renders_its_own_feeds() -> None:
    records = [{"dynamodb": {"Keys": {"pk": {"S": "COMP"}, "sk": {"S": "COMP#smtp-email"}},
                             "OldImage": {"name": {"S": "SMTP"}, "status": {"S": "operational"}},
                             "NewImage": {"name": {"S": "SMTP Email"}, "status": {"S": "operational"}}}},
               {"dynamodb": {"Keys": {"pk": {"S": "COMP"}, "sk": {"S": "COMP#pop3-imap-email"}},
                             "OldImage": {"name": {"S": "POP3/IMAP Email"}, "status": {"S": "operational"}},
                             "NewImage": {"name": {"S": "POP3/IMAP Email"}, "status": {"S": "major_outage"}}}}]
    plan = RenderPlan.from_stream_records(records)
    assert plan.components and plan.component_ids == {"smtp-email"}
    incident, updates = seed_incident()
    artifacts = render(plan, state_for(incident, updates), SETTINGS, json=False)
    assert {"components/smtp-email/history.rss", "components/smtp-email/history.atom"} <= set(artifacts)
    assert not any(key.startswith("components/pop3") for key in artifacts)


def test_rss_plain_text_carries_ampersand_and_less_than_as_hexadecimal_references() -> None:
    # The W3C feed validator (RSS Best Practices Profile) warns on &amp; and &lt;
    # in RSS plain text; Atom's text constructs are fine as they are.
    site = feeds.FeedSite("Fish & Chips <Ltd>", "https://status.example.com", SITE.tz)
    incident, updates = seed_incident(1)
    name = "AT&T <SMTP> > 3 & more"
    incident = incident.model_copy(update={"name": name})
    rss, atom = feeds.render(site, feeds.page_feed(site), [(incident, updates)])
    text = rss.decode()
    item_title = "AT&#x26;T &#x3C;SMTP&#x3E; &#x3E; 3 &#x26; more"
    assert f"<item><title>{item_title}</title>" in text
    assert "<title>Fish &#x26; Chips &#x3C;Ltd&#x3E; Status - Incident History</title>" in text
    assert "<description>Incidents on the Fish &#x26; Chips &#x3C;Ltd&#x3E; status page</description>" in text
    # No named references left in plain text: only the item's HTML description keeps them.
    without_html = re.sub(r"<item>(.*?)<description>.*?</description>", r"<item>\1", text, flags=re.S)
    assert "&amp;" not in without_html and "&lt;" not in without_html and "&gt;" not in without_html
    assert "&lt;p&gt;&lt;small&gt;" in text
    # AND a feed reader reads the same text as before
    parsed = feedparser.parse(rss)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.title == "Fish & Chips <Ltd> Status - Incident History"
    assert parsed.entries[0].title == name
    item = parse_xml(rss).find("channel/item")
    assert item is not None and item.findtext("title") == name
    assert feedparser.parse(atom).entries[0].title == name


def test_atom_published_is_the_first_publication_while_updated_moves() -> None:
    # RFC 4287 §4.2.9: atom:published is an instant early in the entry's life
    # (its first availability); atom:updated is its latest significant change.
    published, updated, pub_dates = [], [], []
    for upto in (1, 3, 6, None):
        incident, updates = seed_incident(upto)
        rss, atom = feeds.render(SITE, feeds.page_feed(SITE), [(incident, updates)])
        entry = parse_xml(atom).find(f"{ATOM}entry")
        assert entry is not None
        published.append(entry.findtext(f"{ATOM}published"))
        updated.append(entry.findtext(f"{ATOM}updated") or "")
        pub_dates.append(parse_xml(rss).findtext("channel/item/pubDate"))
        assert feedparser.parse(atom).bozo == 0 and feedparser.parse(rss).bozo == 0
    # the first update was shown at 18:18 EDT on Aug 30 (22:18 UTC)
    assert published == ["2018-08-30T22:18:00+00:00"] * 4
    assert updated == sorted(updated) and len(set(updated)) == 4
    # RSS has no <updated>: its pubDate stays the latest line's time, as Statuspage's
    assert pub_dates[0] == "Thu, 30 Aug 2018 22:18:00 +0000"
    assert pub_dates[-1] == "Fri, 31 Aug 2018 02:44:00 +0000" and len(set(pub_dates)) == 4
