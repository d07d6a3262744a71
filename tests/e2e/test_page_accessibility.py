"""The status page with components, history and a live incident, checked in
headless Chromium at a phone's width (390 px) by axe-core (npm, pinned in
tests/support/npm.py, installed at test time outside the repository;
docs/feeds-and-pages.md, "Accessibility"). Issue 14: the 90-day uptime bars
must be readable at 390 px, with contrast of at least 4.5:1, axe-clean.

The page carries no script and its CSP allows none (`default-src 'none'`):
axe is evaluated through the DevTools protocol, which the page's CSP does not
govern, so JavaScript is on only for axe. The CSP itself stays on, so the
hashed inline CSS must still apply.
"""

from __future__ import annotations

from typing import Any

import pytest

from status_fanout_local.replay import http_sender, read_plans, replay
from tests.conftest import SEED, STAFF_TOKEN, Api
from tests.support.npm import AXE_CORE, npm_package

pytestmark = pytest.mark.e2e
PHONE = {"width": 390, "height": 844}
# WCAG 2.2 A and AA, and axe's best practices (landmarks, headings, ...).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# The contrast of an element's text against what is behind it, as WCAG 2 defines both.
CONTRAST_JS = """(element) => {
  const rgba = (css) => {
    const v = css.match(/[\\d.]+/g).map(Number);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
  };
  const over = (top, under) => top.slice(0, 3).map((c, i) => c * top[3] + under[i] * (1 - top[3])).concat([1]);
  let background = [255, 255, 255, 1];
  const layers = [];
  for (let node = element; node; node = node.parentElement) layers.push(rgba(getComputedStyle(node).backgroundColor));
  for (const layer of layers.reverse()) background = over(layer, background);
  const colour = over(rgba(getComputedStyle(element).color), background);
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((x) => {
      x /= 255;
      return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [lum(colour), lum(background)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.fixture(scope="module")
def axe_js() -> str:
    return (npm_package(AXE_CORE) / "axe.min.js").read_text()


@pytest.fixture(scope="module")
def site(stack: Any, api: Api) -> None:
    """The seed incident as history, plus a live open incident and a component of our own."""
    replay(http_sender(stack.api_url, STAFF_TOKEN), read_plans(SEED), key_prefix="a11y-seed")
    api("PUT", "/v1/components/api", {"name": "API", "position": 0, "description": "The REST API."})
    opened = api("POST", "/v1/incidents", {
        "name": "Delayed SMTP delivery", "status": "identified",
        "body": "Outbound mail is queued; we are draining the queue.",
        "components": {"smtp-email": "partial_outage", "transactional-emails": "degraded_performance",
                       "api": "major_outage"},
    }, headers={"Idempotency-Key": "a11y-open"})
    assert opened.status in (200, 201), opened.raw
    stack.wait_idle(timeout=120)


@pytest.fixture
def phone_page(browser: Any, stack: Any, site: None) -> Any:
    context = browser.new_context(java_script_enabled=True, viewport=PHONE)  # JavaScript for axe only
    page = context.new_page()
    response = page.goto(stack.api_url + "/")
    assert response.status == 200
    yield page
    context.close()


def test_the_status_page_needs_no_script_and_keeps_its_csp(phone_page: Any) -> None:
    page = phone_page
    assert page.locator("script").count() == 0
    csp = page.locator("meta[http-equiv=Content-Security-Policy]").get_attribute("content")
    assert "default-src 'none'" in csp and "style-src 'sha256-" in csp
    # The inline CSS matched its hash: it applied (the banner is coloured, the bars are laid out)
    assert page.locator("p.banner").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert page.locator("ol.bars").first.evaluate("e => getComputedStyle(e).display") == "flex"


def test_axe_finds_no_violation_at_390_px(phone_page: Any, axe_js: str) -> None:
    page = phone_page
    assert page.locator("ol.bars").count() >= 5  # the bars are on the page that is checked
    page.evaluate(axe_js)
    results = page.evaluate("""(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                              resultTypes: ['violations']})""", AXE_TAGS)
    found = {v["id"]: [(n["target"], n["failureSummary"]) for n in v["nodes"]][:5] for v in results["violations"]}
    assert found == {}
    # axe ran the rules that matter here, and they passed
    ran = {rule["id"] for rule in results["passes"]}
    assert {"color-contrast", "list", "listitem", "landmark-one-main", "page-has-heading-one"} <= ran


def test_no_horizontal_scroll_at_390_px(phone_page: Any) -> None:
    width = phone_page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1] == 390
    for bars in phone_page.locator("ol.bars").all():
        box = bars.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        # 90 days in the width of a phone: each day still a visible mark
        days = bars.locator("li").all()
        assert len(days) == 90
        assert min(day.bounding_box()["width"] for day in days) >= 2


def test_the_bars_text_alternative_and_labels_have_contrast_of_at_least_4_5(phone_page: Any) -> None:
    page = phone_page
    labels = page.locator(".uptime-total span, .uptime-total strong").all()
    assert labels
    for label in labels:
        assert label.is_visible()
        assert label.evaluate(CONTRAST_JS) >= 4.5, label.inner_text()
    # The bars' text alternative: the list's accessible name, and each day's text (screen readers only;
    # its colour is checked as if it were shown where it sits)
    bars = page.locator("ol.bars").first
    assert bars.get_attribute("aria-label").endswith(": uptime, last 90 days")
    for day in bars.locator("li .vh").all():
        assert day.inner_text().strip()
        assert day.evaluate(CONTRAST_JS) >= 4.5, day.inner_text()
