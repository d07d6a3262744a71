"""The public pages in a real browser: headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright) against the local stack.

`make screenshots` runs this module with SCREENSHOTS_DIR=docs/screenshots;
every page it visits is then saved there as a PNG.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from status_fanout_local.replay import http_sender, read_plans, replay
from tests.conftest import SEED, STAFF_TOKEN, Api, http
from tests.support.browser import new_page

pytestmark = pytest.mark.e2e

XSS_NAME = "<script>window.__xss = 1</script>Queue <b>stuck</b>"
XSS_BODY = '<img src=x onerror="window.__xss = 2">Jobs & "quotes" wait; <script>window.__xss = 3</script>'


@pytest.fixture(scope="module")
def site(stack: Any, api: Api) -> dict[str, str]:
    """The seed incident as history, plus a live open incident."""
    [seed] = replay(http_sender(stack.api_url, STAFF_TOKEN), read_plans(SEED), key_prefix="browser-seed")
    api("PUT", "/v1/components/api", {"name": "API", "position": 0})
    opened = api("POST", "/v1/incidents", {
        "name": "Delayed SMTP delivery", "status": "identified",
        "body": "Outbound mail is queued; we are draining the queue.",
        "components": {"smtp-email": "partial_outage", "transactional-emails": "degraded_performance"},
    }, headers={"Idempotency-Key": "browser-open"})
    assert opened.status in (200, 201), opened.raw
    stack.wait_idle(timeout=120)
    return {"seed": seed["id"], "open": opened.json["id"]}


def shoot(page: Any, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_status_page_shows_components_with_statuses_and_the_open_incident(
        stack: Any, site: dict[str, str], browser: Any) -> None:
    page = new_page(browser)
    # WHEN a customer opens the status page
    response = page.goto(stack.api_url + "/")
    # THEN it is served from the bucket as cacheable HTML
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "max-age" in response.headers["cache-control"]
    assert page.title() == "Bottlenose Status"
    # AND the overall status, the open incident and every component with its status show
    assert page.locator("p.banner").inner_text() == "Partial System Outage"
    open_incidents = page.locator("section", has=page.get_by_role("heading", name="Open incidents"))
    assert "Delayed SMTP delivery" in open_incidents.inner_text()
    assert "Outbound mail is queued" in open_incidents.inner_text()
    rows = {
        row.locator(".name").inner_text(): row.locator(".status").inner_text()
        for row in page.locator(".components .row").all()
    }
    assert rows["Email"] == "Partial Outage"  # the group: its worst member
    assert rows["SMTP Email"] == "Partial Outage"
    assert rows["Transactional Emails"] == "Degraded Performance"
    assert rows["Email Marketing"] == "Operational"
    assert rows["API"] == "Operational"
    # AND landmarks, feeds and recent history are there
    assert page.get_by_role("main").count() == 1 and page.get_by_role("navigation").count() >= 1
    assert page.locator("link[rel=alternate][type='application/rss+xml']").count() == 1
    assert page.locator("link[rel=alternate][type='application/atom+xml']").count() == 1
    assert "Mail platform outage" in page.locator("ul.history").inner_text()
    shoot(page, "status-page")


def test_incident_page_shows_every_update_with_labels_and_eastern_times(
        stack: Any, site: dict[str, str], browser: Any) -> None:
    page = new_page(browser)
    page.goto(f"{stack.api_url}/incidents/{site['seed']}")
    assert page.get_by_role("heading", level=1).inner_text() == "Mail platform outage"
    updates = [li.inner_text() for li in page.locator("ol.updates > li").all()]
    assert [u.split(" - ", 1)[0] for u in updates] == [
        "Resolved", "Monitoring", "Update", "Identified", "Update", "Investigating"]
    assert "We have seen a major outrage with our email service platform" in updates[-1]
    assert "All of of the instances" in updates[-2]
    assert "Posted Aug 30, 2018 - 18:18 EDT" in updates[-1]
    assert "Posted Aug 30, 2018 - 22:29 EDT" in updates[0]
    postmortem = page.locator("section.postmortem").inner_text()
    assert "At approximately 4:00 PM Eastern Time" in postmortem and "22:44 EDT" in postmortem
    affected = page.locator("section", has=page.get_by_role("heading", name="Affected components")).inner_text()
    assert "SMTP Email" in affected and "POP3/IMAP Email" in affected
    shoot(page, "incident-page")


def test_hostile_text_is_shown_as_text_and_never_runs(
        stack: Any, api: Api, site: dict[str, str], browser: Any) -> None:
    # GIVEN an incident whose name and body are markup (created after the screenshots above)
    hostile = api("POST", "/v1/incidents", {"name": XSS_NAME, "status": "investigating", "body": XSS_BODY},
                  headers={"Idempotency-Key": "browser-xss"})
    assert hostile.status in (200, 201), hostile.raw
    stack.wait_idle(timeout=120)
    # THEN with JavaScript on, nothing of it runs and it reads as the text it is
    page = new_page(browser, javascript=True)
    for path in (f"/incidents/{hostile.json['id']}", "/"):
        page.goto(stack.api_url + path)
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("img[src=x]").count() == 0
        assert XSS_NAME in page.locator("main").inner_text()
    assert XSS_BODY.replace("  ", " ") in page.locator("main").inner_text()


def test_subscribe_form_submits_and_says_check_your_inbox(stack: Any, site: dict[str, str], browser: Any) -> None:
    page = new_page(browser)
    page.goto(stack.api_url + "/subscribe")
    # GIVEN the form: a labelled email field and a labelled checkbox per component
    assert page.locator("form").get_attribute("method") == "post"
    assert page.locator("form").get_attribute("action") == "/v1/subscriptions"
    page.get_by_label("Email address").fill("reader@example.com")
    page.get_by_label("SMTP Email").check()
    page.get_by_label("POP3/IMAP Email").check()
    shoot(page, "subscribe-page")
    # WHEN it is submitted
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Subscribe").click()
    response = navigation.value
    # THEN the answer says to check the inbox
    assert response.status == 202, response.status
    assert re.search(r"check your inbox", page.locator("body").inner_text(), re.IGNORECASE)
    shoot(page, "subscribe-submitted")


def test_pages_answer_conditional_gets(stack: Any, site: dict[str, str]) -> None:
    for path in ("/", f"/incidents/{site['seed']}", "/subscribe"):
        first = http(stack.api_url + path)
        assert first.status == 200, path
        assert first.headers["ETag"] and first.headers["Last-Modified"]
        assert http(stack.api_url + path, headers={"If-None-Match": first.headers["ETag"]}).status == 304


# --- layout, as a reader at phone width sees it --------------------------------------

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1000, "height": 900}
# Every word (a run of non-space characters) of every component name whose
# text lands on more than one line: one Range per word, one line box per rect.
SPLIT_WORDS = """() => {
  const split = [];
  for (const name of document.querySelectorAll('.components .name')) {
    const walker = document.createTreeWalker(name, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) split.push([name.textContent, word[0]]);
      }
    }
  }
  return split;
}"""
# The space between the header's bottom rule and the first thing in <main>,
# and between the last thing in <main> and the footer's top rule.
GAPS = """() => {
  const main = document.querySelector('main');
  const header = document.querySelector('header.site').getBoundingClientRect();
  const footer = document.querySelector('footer.site').getBoundingClientRect();
  return {
    heading: main.querySelector('h1').getBoundingClientRect().top - header.bottom,
    first: main.firstElementChild.getBoundingClientRect().top - header.bottom,
    last: footer.top - main.lastElementChild.getBoundingClientRect().bottom,
  };
}"""
MIN_GAP = 12


def sized_page(browser: Any, viewport: dict[str, int]) -> Any:
    return browser.new_context(java_script_enabled=False, viewport=viewport).new_page()


def test_component_names_wrap_only_between_words_at_phone_width(
        stack: Any, api: Api, site: dict[str, str], browser: Any) -> None:
    # GIVEN the longest status label beside every member of the Email group
    # (after the tests above, which read the statuses the site fixture set)
    for component in ("smtp-email", "transactional-emails", "email-marketing", "pop3-imap-email"):
        assert api("PATCH", f"/v1/components/{component}", {"status": "degraded_performance"}).status == 200
    stack.wait_idle(timeout=120)
    for viewport in (PHONE, DESKTOP):
        page = sized_page(browser, viewport)
        # WHEN a reader opens the status page on a phone (and on a desktop)
        page.goto(stack.api_url + "/")
        names = page.locator(".components .name").all_inner_texts()
        assert {"Email Marketing", "POP3/IMAP Email", "Transactional Emails"} <= set(names), names
        # THEN no word of a component name is split across two lines
        assert page.evaluate(SPLIT_WORDS) == [], viewport
        # AND each status is still on one line, whole
        for status in page.locator(".components .status").all():
            box = status.bounding_box()
            assert box is not None and box["height"] < 2 * 16 * 1.5 - 1, status.inner_text()
        page.context.close()


def api_pages() -> dict[str, str]:
    """The pages the subscription API serves (their links need tokens): rendered
    by the same functions, shown in the same browser."""
    from status_fanout.publishing import pages
    from tests.unit.publishing.test_feeds import SETTINGS, seed_components

    components = list(seed_components().values())
    return {
        "confirm": pages.confirm_page(SETTINGS, "tok", email="reader@example.com"),
        "manage": pages.manage_page(SETTINGS, "tok", components, ["smtp-email"], email="reader@example.com"),
        "unsubscribe": pages.unsubscribe_page(SETTINGS, "tok", email="reader@example.com"),
        "check inbox": pages.check_inbox_page(SETTINGS),
        "expired": pages.expired_page(SETTINGS),
    }


def test_headings_and_last_lines_keep_clear_of_the_header_and_footer_rules(
        stack: Any, site: dict[str, str], browser: Any) -> None:
    for viewport in (PHONE, DESKTOP):
        page = sized_page(browser, viewport)
        found: dict[str, dict[str, float]] = {}
        # WHEN a reader opens each page
        for path in ("/", f"/incidents/{site['seed']}", "/subscribe"):
            page.goto(stack.api_url + path)
            found[path] = page.evaluate(GAPS)
        for name, source in api_pages().items():
            page.set_content(source)
            found[name] = page.evaluate(GAPS)
        page.context.close()
        # THEN the first heading and the first content sit clear of the header's rule,
        # and the last content clear of the footer's
        crowded = {name: gaps for name, gaps in found.items() if min(gaps.values()) < MIN_GAP}
        assert crowded == {}, (viewport, crowded)
