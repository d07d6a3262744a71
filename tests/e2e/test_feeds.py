"""End to end on the local stack: the RSS and Atom feeds, as a feed reader sees them.

This module's stack shows times in UTC (PageTimeZone=Etc/UTC) so that our
items compare string for string with githubstatus.com's UTC feed; the
browser tests check US Eastern times on the default stack.
"""

from __future__ import annotations

import html
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import feedparser
import pytest

from status_fanout.api.auth import hash_token
from status_fanout_local.replay import ensure_components, http_sender, read_plans, replay
from tests.conftest import DATA, ROOT, SEED, STAFF_TOKEN, Api, http

pytestmark = pytest.mark.e2e
SAMPLES = DATA / "statuspage-samples"
ATOM = "{http://www.w3.org/2005/Atom}"
# Generous: the other channels' queues drain on the same two cores.
IDLE = 120


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    from status_fanout.settings import get_settings
    from status_fanout_local.stack import LocalStack

    # The handlers share this process's status_fanout, whose get_settings() is
    # cached: without a clear, a stack started earlier in the session would
    # lend its PageTimeZone to ours, and ours to the next.
    get_settings.cache_clear()
    parameters = {"StaffTokenSha256": hash_token(STAFF_TOKEN), "PageTimeZone": "Etc/UTC"}
    try:
        with LocalStack(ROOT, parameters=parameters) as running:
            yield running
    finally:
        get_settings.cache_clear()


# --- reading feeds as a reader would -------------------------------------------

LINE = re.compile(r"<p><small>(?P<time>.*?)</small><br><strong>(?P<label>.*?)</strong> - (?P<text>.*?)</p>", re.S)


def lines(content_html: str) -> list[tuple[str, str, str]]:
    """(label, time, text) of each update in a Statuspage-shaped entry, in order."""
    def plain(fragment: str) -> str:
        return html.unescape(re.sub(r"<[^>]+>", "", fragment.replace("<br />", "\n")))

    return [(m["label"], plain(m["time"]), plain(m["text"])) for m in LINE.finditer(content_html)]


def fetch(stack: Any, path: str) -> bytes:
    reply = http(stack.api_url + path)
    assert reply.status == 200, (path, reply.status, reply.raw[:200])
    return reply.raw


def rss_items(raw: bytes) -> dict[str, ET.Element]:
    """RSS items by the incident id at the end of their link."""
    channel = ET.fromstring(raw).find("channel")  # noqa: S314
    assert channel is not None
    return {(item.findtext("link") or "").rsplit("/", 1)[-1]: item for item in channel.findall("item")}


def atom_entries(raw: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(raw)  # noqa: S314
    return {
        (entry.find(f"{ATOM}link").get("href") or "").rsplit("/", 1)[-1]: entry  # type: ignore[union-attr]
        for entry in root.findall(f"{ATOM}entry")
    }


def replay_file(stack: Any, path: Any, prefix: str) -> dict[str, Any]:
    [incident] = replay(http_sender(stack.api_url, STAFF_TOKEN), read_plans(path), key_prefix=prefix)
    stack.wait_idle(timeout=IDLE)
    return incident


# --- the tests -------------------------------------------------------------------

def test_seed_replayed_both_feeds_are_valid_and_hold_seven_updates_newest_first(stack: Any) -> None:
    # GIVEN the seed incident replayed as history
    seed = json.loads(SEED.read_text())
    incident = replay_file(stack, SEED, "feeds-seed")
    rss, atom = fetch(stack, "/history.rss"), fetch(stack, "/history.atom")
    # THEN both feeds parse cleanly
    for raw in (rss, atom):
        parsed = feedparser.parse(raw)
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.feed.title == "Bottlenose Status - Incident History"
        assert [e.title for e in parsed.entries if e.link.endswith(incident["id"])] == ["Mail platform outage"]
    # AND the entry holds the postmortem and six updates, newest first, with Statuspage's labels
    postmortem = seed["incident"]["postmortem"]
    expected = [("Postmortem", _utc(postmortem["display_at"]), postmortem["body"])] + [
        (u["label"], _utc(u["display_at"]), u["body"]) for u in reversed(seed["incident"]["updates"])]
    rss_item = rss_items(rss)[incident["id"]]
    atom_entry = atom_entries(atom)[incident["id"]]
    assert lines(rss_item.findtext("description") or "") == expected
    assert lines(atom_entry.findtext(f"{ATOM}content") or "") == expected
    assert [label for label, _, _ in expected] == [
        "Postmortem", "Resolved", "Monitoring", "Update", "Identified", "Update", "Investigating"]
    # AND the entry links to the incident page, and ids agree between the two feeds
    assert (rss_item.findtext("link") or "").endswith(f"/incidents/{incident['id']}")
    assert rss_item.findtext("guid") == atom_entry.findtext(f"{ATOM}id")


def _utc(display_at: str) -> str:
    when = datetime.fromisoformat(display_at).astimezone(UTC)
    return f"{when:%b} {when.day:>2}, {when:%H:%M} UTC"


def test_entry_id_stays_and_updated_moves_as_the_seed_is_posted_live(stack: Any, api: Api) -> None:
    # GIVEN the seed posted live (now, not backfilled; notifying nobody, which
    # the feed does not care about), one update at a time, the feed re-read after each
    [plan] = read_plans(SEED, live=True)
    for body in [*plan.updates, plan.postmortem]:
        assert body is not None
        body["notify"] = False
    plan.name = "Mail platform outage (live)"
    seen: list[tuple[str, datetime, int]] = []

    def read_entry(incident_id: str) -> None:
        # Poll the feed as a reader would, until the publisher has added the new line.
        deadline = time.monotonic() + 60
        while True:
            reply = http(stack.api_url + "/history.atom")
            raw = reply.raw if reply.status == 200 else b"<feed xmlns='http://www.w3.org/2005/Atom'/>"
            entry = atom_entries(raw).get(incident_id)
            count = len(lines(entry.findtext(f"{ATOM}content") or "")) if entry is not None else 0
            if count == len(seen) + 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert entry is not None and feedparser.parse(raw).bozo == 0
        updated = datetime.fromisoformat(entry.findtext(f"{ATOM}updated") or "")
        seen.append((entry.findtext(f"{ATOM}id") or "", updated, count))

    ensure_components(http_sender(stack.api_url, STAFF_TOKEN), [plan])
    first, *rest = plan.updates
    created = api("POST", "/v1/incidents", {"name": plan.name, **first, "impact": "critical"})
    assert created.status == 201, created.raw
    incident_id = created.json["id"]
    read_entry(incident_id)
    for update in rest:
        assert api("POST", f"/v1/incidents/{incident_id}/updates", update).status == 201
        read_entry(incident_id)
    assert plan.postmortem is not None
    assert api("PUT", f"/v1/incidents/{incident_id}/postmortem", plan.postmortem).status in (200, 201)
    read_entry(incident_id)
    # THEN one entry id for the incident's whole life, an updated time that moves
    # with every update, and one more line each time
    assert len({entry_id for entry_id, _, _ in seen}) == 1
    stamps = [updated for _, updated, _ in seen]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert [count for _, _, count in seen] == [1, 2, 3, 4, 5, 6, 7]


def test_real_incident_matches_githubstatus_feed_item(stack: Any) -> None:
    # GIVEN githubstatus.com's incident fpk08rxnqjz2 replayed
    incident = replay_file(stack, SAMPLES / "githubstatus_api_v2_incident_fpk08rxnqjz2.json", "feeds-real")
    # WHEN our RSS item and githubstatus.com's are read
    ours = rss_items(fetch(stack, "/history.rss"))[incident["id"]]
    theirs = rss_items((SAMPLES / "githubstatus_history_2022-03-16.rss").read_bytes())["fpk08rxnqjz2"]
    # THEN the title and the sequence of (label, time, text) are the same
    assert ours.findtext("title") == theirs.findtext("title")
    expected = lines(theirs.findtext("description") or "")
    assert len(expected) == 8 and expected[0][0] == "Resolved" and expected[-1][0] == "Investigating"
    assert lines(ours.findtext("description") or "") == expected
    # AND the item's date is the time of its latest update, as theirs
    assert ours.findtext("pubDate") == "Wed, 16 Mar 2022 19:46:00 +0000"


def test_component_feeds_hold_only_incidents_touching_the_component(stack: Any, api: Api) -> None:
    # GIVEN the seed (Email components) and an incident touching only another component
    seed = replay_file(stack, SEED, "feeds-seed")
    api("PUT", "/v1/components/billing", {"name": "Billing", "position": 9})
    other = api("POST", "/v1/incidents", {"name": "Invoices late", "status": "investigating", "body": "Looking.",
                                          "components": {"billing": "degraded_performance"}})
    assert other.status == 201
    untouched = api("POST", "/v1/incidents", {"name": "No component", "status": "investigating", "body": "Hm."})
    assert untouched.status == 201
    stack.wait_idle(timeout=IDLE)
    # THEN each component's feeds hold exactly the incidents that touched it
    for path, wanted, unwanted in (
        ("/components/smtp-email/history", seed["id"], other.json["id"]),
        ("/components/billing/history", other.json["id"], seed["id"]),
    ):
        rss, atom = fetch(stack, path + ".rss"), fetch(stack, path + ".atom")
        for raw in (rss, atom):
            assert feedparser.parse(raw).bozo == 0
        assert wanted in rss_items(rss) and wanted in atom_entries(atom)
        assert unwanted not in rss_items(rss) and unwanted not in atom_entries(atom)
        assert untouched.json["id"] not in rss_items(rss)
    assert feedparser.parse(fetch(stack, "/components/billing/history.atom")).feed.title == (
        "Bottlenose Status - Billing Incident History")
    # AND the page feed holds all of them
    page = rss_items(fetch(stack, "/history.rss"))
    assert {seed["id"], other.json["id"], untouched.json["id"]} <= set(page)


def test_feeds_answer_conditional_gets_with_304(stack: Any) -> None:
    replay_file(stack, SEED, "feeds-seed")
    for path, kind in (("/history.rss", "application/rss+xml"), ("/history.atom", "application/atom+xml"),
                       ("/components/smtp-email/history.atom", "application/atom+xml")):
        first = http(stack.api_url + path)
        assert first.status == 200
        assert first.headers["Content-Type"].startswith(kind)
        assert "max-age" in first.headers["Cache-Control"]
        assert first.headers["ETag"] and first.headers["Last-Modified"]
        assert http(stack.api_url + path, headers={"If-None-Match": first.headers["ETag"]}).status == 304
        assert http(stack.api_url + path, headers={"If-Modified-Since": first.headers["Last-Modified"]}).status == 304


def test_replaying_again_rewrites_no_feed(stack: Any) -> None:
    replay_file(stack, SEED, "feeds-seed")
    before = {p: http(stack.api_url + p) for p in ("/history.rss", "/history.atom", "/")}
    replay_file(stack, SEED, "feeds-seed")
    for path, reply in before.items():
        again = http(stack.api_url + path)
        assert (again.raw, again.headers["Last-Modified"]) == (reply.raw, reply.headers["Last-Modified"]), path


def test_hostile_names_and_bodies_are_escaped_in_feeds(stack: Any, api: Api) -> None:
    name = "<script>alert('name')</script> & co"
    body = "<img src=x onerror=alert(1)> </description></item><item><title>forged"
    created = api("POST", "/v1/incidents", {"name": name, "status": "investigating", "body": body})
    assert created.status == 201
    stack.wait_idle(timeout=IDLE)
    rss, atom = fetch(stack, "/history.rss"), fetch(stack, "/history.atom")
    # THEN the XML is well formed, nothing was forged, and the title comes back as the literal text
    assert b"<script>" not in rss and b"<script>" not in atom and b"<img" not in rss and b"<img" not in atom
    item = rss_items(rss)[created.json["id"]]
    entry = atom_entries(atom)[created.json["id"]]
    assert item.findtext("title") == name and entry.findtext(f"{ATOM}title") == name
    assert "forged" not in [i.findtext("title") for i in rss_items(rss).values()]
    # AND the HTML content carries the body as escaped text, never as markup
    for content in (item.findtext("description") or "", entry.findtext(f"{ATOM}content") or ""):
        assert "<img" not in content and "&lt;img src=x onerror=alert(1)&gt;" in content
        assert lines(content)[0][2] == body
    for raw in (rss, atom):
        assert feedparser.parse(raw).bozo == 0

