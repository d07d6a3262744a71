"""The public HTML as pure functions: structure, accessibility basics, escaping."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import lxml.html
import pytest

from status_fanout.incidents.models import Component
from status_fanout.publishing import pages
from tests.unit.publishing.test_feeds import SETTINGS, seed_components, seed_incident

HOSTILE = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>"


class Page(HTMLParser):
    """Collects what the tests look at: tags with attributes, text, the style block."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.style = ""
        self._in_style = False
        self.feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)

    def all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    @property
    def plain(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.text))


def components(**status: str) -> list[Component]:
    found = list(seed_components().values())
    return [c.model_copy(update={"status": status.get(c.id.replace("-", "_"), c.status)}) for c in found]


def every_page() -> dict[str, str]:
    incident, updates = seed_incident()
    comps = components()
    return {
        "index": pages.index_page(SETTINGS, comps, [], [incident]),
        "incident": pages.incident_page(SETTINGS, incident, updates, {c.id: c for c in comps}),
        "subscribe": pages.subscribe_page(SETTINGS, comps),
        "confirm": pages.confirm_page(SETTINGS, "tok"),
        "manage": pages.manage_page(SETTINGS, "tok", comps, ["smtp-email"]),
        "unsubscribe": pages.unsubscribe_page(SETTINGS, "tok"),
        "inbox": pages.check_inbox_page(SETTINGS),
    }


@pytest.mark.parametrize("name", list(every_page()))
def test_every_page_has_landmarks_language_and_feed_links(name: str) -> None:
    page = Page(every_page()[name])
    assert page.all("html", lang="en")
    for landmark in ("header", "nav", "main", "footer"):
        assert len(page.all(landmark)) == 1, landmark
    assert len(page.all("h1")) == 1
    assert page.all("link", rel="alternate", type="application/rss+xml")
    assert page.all("link", rel="alternate", type="application/atom+xml")
    assert page.all("a", href="#main")  # skip link


@pytest.mark.parametrize("name", list(every_page()))
def test_no_script_no_third_party_assets_and_the_style_is_pinned_by_hash(name: str) -> None:
    source = every_page()[name]
    page = Page(source)
    assert not page.all("script") and not page.all("img") and not page.all("iframe")
    assert not [a for t, a in page.tags if t == "link" and a.get("rel") == "stylesheet"]
    [csp] = page.all("meta", **{"http-equiv": "Content-Security-Policy"})
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp["content"]
    assert "default-src 'none'" in csp["content"]


@pytest.mark.parametrize("name", ["subscribe", "manage"])
def test_every_form_field_has_a_label(name: str) -> None:
    source = every_page()[name]
    page = Page(source)
    inputs = [a for a in page.all("input") if a.get("type") != "hidden"]
    assert inputs
    for field in inputs:
        if field.get("id"):
            assert page.all("label", **{"for": field["id"]}), field
        else:  # wrapped in its label
            assert re.search(r"<label><input[^>]*value=\"" + re.escape(field["value"]) + r"\"", source), field


def test_status_page_shows_overall_status_groups_open_incidents_and_history() -> None:
    incident, updates = seed_incident()
    open_incident = incident.model_copy(update={"id": "open1", "name": "Delayed mail", "status": "identified"})
    comps = components(smtp_email="major_outage", email_marketing="degraded_performance")
    page = Page(pages.index_page(SETTINGS, comps, [(open_incident, updates[:3])], [open_incident, incident]))
    text = page.plain
    assert "Major System Outage" in text
    assert "Email Major Outage SMTP Email Major Outage Transactional Emails Operational" in text
    assert "Email Marketing Degraded Performance" in text
    assert "Delayed mail" in text and "Identified - Amazon Web Services reports" in text
    assert page.all("a", href="/incidents/open1") and page.all("a", href=f"/incidents/{incident.id}")
    assert "Aug 30, 2018 - 18:18 EDT" in text


def test_all_operational_says_so() -> None:
    text = Page(pages.index_page(SETTINGS, components(), [], [])).plain
    assert "All Systems Operational" in text and "No incidents reported." in text


def test_incident_page_shows_the_seed_as_its_report_does() -> None:
    incident, updates = seed_incident()
    page = Page(pages.incident_page(SETTINGS, incident, updates, seed_components()))
    text = page.plain
    assert "Postmortem" in text and "Posted Aug 30, 2018 - 22:44 EDT" in text
    order = [text.index(s) for s in ("Resolved - This incident has been resolved.",
                                     "Monitoring - A fix has been implemented",
                                     "Update - We are continuing to work on a fix",
                                     "Identified - Amazon Web Services reports",
                                     "Update - All of of the instances",
                                     "Investigating - We have seen a major outrage")]
    assert order == sorted(order)
    assert "This incident affected: SMTP Email, Transactional Emails, Email Marketing, POP3/IMAP Email." in text
    assert [a["datetime"] for a in page.all("time")][-1] == "2018-08-30T22:18:00.000Z"


def test_hostile_text_is_escaped_everywhere() -> None:
    incident, updates = seed_incident(1)
    incident = incident.model_copy(update={"name": HOSTILE})
    updates = [updates[0].model_copy(update={"body": HOSTILE})]
    comps = [c.model_copy(update={"name": HOSTILE, "group": HOSTILE, "description": HOSTILE})
             for c in components()]
    rendered: dict[str, Any] = {
        "index": pages.index_page(SETTINGS, comps, [(incident, updates)], [incident]),
        "incident": pages.incident_page(SETTINGS, incident, updates, {c.id: c for c in comps}),
        "subscribe": pages.subscribe_page(SETTINGS, comps),
        "manage": pages.manage_page(SETTINGS, HOSTILE, comps, [], email=HOSTILE),
        "confirm": pages.confirm_page(SETTINGS, HOSTILE, email=HOSTILE),
        "unsubscribe": pages.unsubscribe_page(SETTINGS, HOSTILE),
        "message": pages.message_page(SETTINGS, HOSTILE, HOSTILE),
    }
    for name, source in rendered.items():
        assert "<script>" not in source and "<img" not in source, name
        if name != "unsubscribe":  # there the token appears only URL-encoded
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in source, name


def test_api_pages_carry_the_token_in_their_forms() -> None:
    token = "abc/+=&\"<"
    confirm = Page(pages.confirm_page(SETTINGS, token))
    [form] = confirm.all("form")
    assert form["method"] == "post"
    assert form["action"] == "/v1/subscriptions/confirm?token=abc/%2B%3D%26%22%3C"
    assert confirm.all("input", type="hidden", name="token", value=token)
    assert "Confirm subscription" in confirm.plain

    unsubscribe = Page(pages.unsubscribe_page(SETTINGS, token, api_base="/prod"))
    [form] = unsubscribe.all("form")
    assert form["action"].startswith("/prod/v1/subscriptions/unsubscribe?token=")
    # a browser posting the form sends RFC 8058's one-click body
    assert unsubscribe.all("input", type="hidden", name="List-Unsubscribe", value="One-Click")

    manage = Page(pages.manage_page(SETTINGS, token, components(), ["smtp-email", "pop3-imap-email"]))
    checked = [a["value"] for a in manage.all("input", type="checkbox") if "checked" in a]
    assert checked == ["smtp-email", "pop3-imap-email"]
    assert "Save" in manage.plain
    # links back to the status page are absolute: the API may be on its own host
    assert manage.all("a", href="https://status.example.com/")


def test_subscribe_form_posts_email_and_components_to_the_api() -> None:
    page = Page(pages.subscribe_page(SETTINGS, components()))
    [form] = page.all("form")
    assert (form["method"], form["action"]) == ("post", "/v1/subscriptions")
    assert page.all("input", type="email", name="email")
    assert [a["value"] for a in page.all("input", type="checkbox", name="components")] == [
        "smtp-email", "transactional-emails", "email-marketing", "pop3-imap-email"]
    assert page.all("a", href="/components/smtp-email/history.atom")


# --- what third-party checkers and readers found (issue 16) -----------------------

def parsed(source: str) -> Any:
    return lxml.html.fromstring(source)


def history_line(incident: Any) -> str:
    """The status and times under an incident in "Recent history", as read."""
    [small] = parsed(pages.index_page(SETTINGS, components(), [], [incident])).xpath(
        "//ul[@class='history']/li/small")
    return " ".join(small.text_content().split())


def test_recent_history_names_the_day_once_when_an_incident_ends_the_day_it_began() -> None:
    incident, _ = seed_incident()  # 18:18 EDT to 22:29 EDT: one day in New York, two in UTC
    assert history_line(incident) == "Resolved · Aug 30, 2018 - 18:18 – 22:29 EDT"
    # both ends stay machine-readable
    times = parsed(pages.index_page(SETTINGS, components(), [], [incident])).xpath("//ul[@class='history']//time")
    assert [t.get("datetime") for t in times] == [incident.started_at, incident.resolved_at]
    # across local midnight (though the same day in UTC): both dates
    late = incident.model_copy(update={"started_at": "2018-08-31T03:50:00.000Z",
                                       "resolved_at": "2018-08-31T04:20:00.000Z"})
    assert history_line(late) == "Resolved · Aug 30, 2018 - 23:50 EDT – Aug 31, 2018 - 00:20 EDT"
    # the night the clocks go back: one date, both zones
    fall_back = incident.model_copy(update={"started_at": "2018-11-04T05:30:00.000Z",
                                            "resolved_at": "2018-11-04T06:10:00.000Z"})
    assert history_line(fall_back) == "Resolved · Nov 4, 2018 - 01:30 EDT – 01:10 EST"
    # still open: the start alone
    still_open = incident.model_copy(update={"status": "identified", "resolved_at": None})
    assert history_line(still_open) == "Identified · Aug 30, 2018 - 18:18 EDT"


def test_home_page_feed_links_are_a_list() -> None:
    """HTML_CodeSniffer H48: links that belong together are marked up as a list."""
    incident, _ = seed_incident()
    main = parsed(pages.index_page(SETTINGS, components(), [], [incident])).xpath("//main")[0]
    links = main.xpath(".//a[contains(@href, '/history.')]")
    assert [a.get("href") for a in links] == ["/history.rss", "/history.atom"]
    items = [a.getparent() for a in links]
    assert [item.tag for item in items] == ["li", "li"]
    assert all(len(item.xpath(".//a")) == 1 for item in items)  # one link per item
    assert {item.getparent().tag for item in items} == {"ul"} and items[0].getparent() is items[1].getparent()
    assert "RSS" in links[0].text_content() and "Atom" in links[1].text_content()
