"""A page nobody has posted to, as its first visitors see it: a fresh local
stack, before any write. Every public path answers from the first second
(the stack's start sends Custom::PublicArtifacts its Create, as CloudFormation
does on deploy), says all systems are operational, and takes a subscriber.

The tests run in file order: the first ones look before anything is written.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import boto3
import feedparser
import pytest

from status_fanout.publishing.publisher import RenderPlan, SiteState, render
from status_fanout.settings import Settings
from tests.conftest import http
from tests.support.browser import new_page
from tests.support.inbox import Outbox, wait_for

pytestmark = pytest.mark.e2e

V2 = ["summary", "status", "components", "incidents", "incidents/unresolved"]
PATHS = ["/", "/subscribe", *(f"/api/v2/{name}.json" for name in V2), "/history.rss", "/history.atom"]
TYPES = {"/": "text/html", "/subscribe": "text/html", "/history.rss": "application/rss+xml",
         "/history.atom": "application/atom+xml"}


def bucket_keys(stack: Any) -> set[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=stack.physical["PublicBucket"])
    return {o["Key"] for o in listing.get("Contents", [])}


def test_every_public_path_answers_before_anything_is_posted(stack: Any) -> None:
    # GIVEN a local stack that has just started: no component, no incident, no write at all
    # WHEN a first visitor, a feed reader and a Statuspage client ask
    for path in PATHS:
        reply = http(stack.api_url + path)
        # THEN each answer is 200 with its type and validators, as after any write
        assert reply.status == 200, (path, reply.status, reply.raw[:200])
        assert reply.headers["Content-Type"].startswith(TYPES.get(path, "application/json")), path
        assert reply.headers["ETag"] and reply.headers["Last-Modified"], path
        assert http(stack.api_url + path, headers={"If-None-Match": reply.headers["ETag"]}).status == 304


def test_the_bucket_holds_exactly_what_the_full_render_of_an_empty_page_makes(stack: Any) -> None:
    # Whatever artifacts later changes add to the full render, a fresh stack has them all.
    empty = SiteState(components={}, unresolved=[], recent_heads=[], recent=[], touched=[])
    expected = render(RenderPlan.everything_in([], []), empty, Settings.from_env())
    assert bucket_keys(stack) == set(expected)
    for key in expected:
        path = "/" if key == "index.html" else f"/{key}"
        reply = http(stack.api_url + path)
        assert (reply.status, reply.raw) == (200, expected[key].body), key


def test_the_json_says_all_systems_operational_with_empty_lists(stack: Any) -> None:
    status = http(f"{stack.api_url}/api/v2/status.json").json
    assert status["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert status["page"]["name"] == "Bottlenose" and status["page"]["url"] == stack.api_url
    summary = http(f"{stack.api_url}/api/v2/summary.json").json
    assert summary["status"]["indicator"] == "none"
    assert (summary["components"], summary["incidents"], summary["scheduled_maintenances"]) == ([], [], [])
    assert http(f"{stack.api_url}/api/v2/components.json").json["components"] == []
    for name in ("incidents", "incidents/unresolved"):
        assert http(f"{stack.api_url}/api/v2/{name}.json").json["incidents"] == [], name


def test_both_feeds_are_valid_and_empty(stack: Any) -> None:
    for path in ("/history.rss", "/history.atom"):
        parsed = feedparser.parse(http(stack.api_url + path).raw)
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.entries == [], path
        assert parsed.feed.title == "Bottlenose Status - Incident History"


def test_the_page_says_all_systems_are_operational_in_a_browser(stack: Any, browser: Any) -> None:
    page = new_page(browser)
    # WHEN the first visitor opens the status page
    response = page.goto(stack.api_url + "/")
    # THEN it is the page, not an error, and it says all is well in words
    assert response.status == 200
    assert page.title() == "Bottlenose Status"
    assert page.locator("p.banner").inner_text() == "All Systems Operational"
    assert "No incidents reported." in page.get_by_role("main").inner_text()
    assert page.get_by_role("link", name="Subscribe").count() >= 1


def test_a_first_visitor_can_subscribe(stack: Any, browser: Any) -> None:
    # its own address: the stack's outbox (.local/outbox) outlives a test run
    who = f"first-visitor-{uuid.uuid4().hex[:12]}@example.com"
    page = new_page(browser)
    # GIVEN the subscribe form of a page with no components yet
    assert page.goto(stack.api_url + "/subscribe").status == 200
    assert page.locator("fieldset").count() == 0
    page.get_by_label("Email address").fill(who)
    # WHEN it is submitted
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Subscribe").click()
    # THEN the answer says to check the inbox, and the confirmation mail arrives
    assert navigation.value.status == 202
    assert re.search(r"check your inbox", page.locator("body").inner_text(), re.IGNORECASE)
    outbox = Outbox(stack.outbox_dir)
    wait_for(lambda: len(outbox.to(who)) == 1)
    assert "confirm" in str(outbox.to(who)[0]["Subject"]).lower()
