"""RSS 2.0 and Atom 1.0 incident-history feeds, rendered with feedgen.

One entry per incident or scheduled maintenance; its content is the escaped
HTML of every update, newest first, in Statuspage's shape:

    <p><small>Aug <var data-var='date'>30</var>, <var data-var='time'>18:18</var> EDT</small><br>
    <strong>Investigating</strong> - We have seen a major outrage ...</p>

A maintenance's content starts with its window, as Statuspage's does
(data/statuspage-samples/govuk_status_history_maintenance_excerpt.rss):

    <p><strong>THIS IS A SCHEDULED EVENT Jan <var data-var='date'>16</var>, <var data-var='time'>12:00</var>
    - <var data-var='time'>16:00</var> GMT</strong></p>

Pure: the same incidents in give the same bytes out, so the publisher's
skip-unchanged write leaves ETag and Last-Modified alone when nothing moved.
"""

from __future__ import annotations

import html
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from status_fanout.incidents.lifecycle import POSTMORTEM_LABEL, display_order, labels
from status_fanout.incidents.models import Incident, IncidentUpdate
from status_fanout.settings import Settings
from status_fanout.timefmt import parse_ts

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry

logger = logging.getLogger(__name__)

FEED_ENTRIES = 50
RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
# An empty feed still needs an <updated>; a fixed one keeps its bytes stable.
EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)
GENERATOR = "status-fanout"

IncidentWithUpdates = tuple[Incident, list[IncidentUpdate]]


# --- time ------------------------------------------------------------------

@lru_cache(maxsize=8)
def zone(name: str) -> tzinfo:
    """The page's time zone; an unknown name falls back to UTC (and says so)
    rather than failing every render of every public artifact."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.error("unknown PageTimeZone %r; rendering times in UTC", name)
        return UTC


def local_time(ts: str, tz: tzinfo) -> datetime:
    return parse_ts(ts).astimezone(tz)


def short_time_html(ts: str, tz: tzinfo) -> str:
    """Statuspage's feed time: ``Aug <var data-var='date'>30</var>, <var data-var='time'>18:18</var> EDT``
    (the day padded to two places with a space, as Statuspage does)."""
    when = local_time(ts, tz)
    return (f"{when:%b} <var data-var='date'>{when.day:>2}</var>, "
            f"<var data-var='time'>{when:%H:%M}</var> {when:%Z}")


# --- an incident's history ---------------------------------------------------

@dataclass(frozen=True)
class HistoryLine:
    """One update (or the postmortem) as the public sees it."""

    label: str
    at: str  # the display time, as stored (UTC)
    body: str
    update_id: str | None  # None for the postmortem


def history(incident: Incident, updates: Iterable[IncidentUpdate]) -> list[HistoryLine]:
    """Every update newest first with its Statuspage label, the postmortem on top."""
    ordered = display_order(updates)
    names = labels(ordered)
    lines = [HistoryLine(names[u.id], u.display_at, u.body, u.id) for u in reversed(ordered)]
    if incident.postmortem_body and incident.postmortem_published_at:
        lines.insert(0, HistoryLine(POSTMORTEM_LABEL, incident.postmortem_published_at,
                                    incident.postmortem_body, None))
    return lines


def text_html(text: str) -> str:
    """Plain text as HTML: escaped, line breaks kept (as Statuspage's <br />)."""
    escaped = html.escape(text.replace("\r\n", "\n").replace("\r", "\n"), quote=False)
    return escaped.replace("\n", "<br />")


def window_html(start: str, end: str, tz: tzinfo) -> str:
    """A maintenance's window in the feed's time format: the date once when both
    ends fall on the same local day, the zone once unless it changed between."""
    first, last = local_time(start, tz), local_time(end, tz)
    head = f"{first:%b} <var data-var='date'>{first.day:>2}</var>, <var data-var='time'>{first:%H:%M}</var>"
    if f"{first:%Z}" != f"{last:%Z}":
        head += f" {first:%Z}"
    tail = f"<var data-var='time'>{last:%H:%M}</var> {last:%Z}"
    if first.date() != last.date():
        tail = f"{last:%b} <var data-var='date'>{last.day:>2}</var>, " + tail
    return f"{head} - {tail}"


def maintenance_header_html(maintenance: Incident, tz: tzinfo) -> str:
    """The paragraph above a maintenance's updates (none for an incident)."""
    if not maintenance.is_maintenance or not maintenance.scheduled_for or not maintenance.scheduled_until:
        return ""
    what = "THIS SCHEDULED EVENT WAS CANCELLED" if maintenance.cancelled_at else "THIS IS A SCHEDULED EVENT"
    return f"<p><strong>{what} {window_html(maintenance.scheduled_for, maintenance.scheduled_until, tz)}</strong></p>"


def content_html(lines: Sequence[HistoryLine], tz: tzinfo) -> str:
    return "".join(
        f"<p><small>{short_time_html(line.at, tz)}</small><br><strong>{line.label}</strong>"
        f" - {text_html(line.body)}</p>"
        for line in lines
    )


# --- feeds -----------------------------------------------------------------

@dataclass(frozen=True)
class FeedSite:
    """What every feed of a page shares."""

    page_name: str
    page_url: str
    tz: tzinfo

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedSite:
        return cls(settings.page.name, settings.page.url, zone(settings.page.time_zone))

    @property
    def host(self) -> str:
        return urlsplit(self.page_url).hostname or "localhost"

    def incident_url(self, incident_id: str) -> str:
        return f"{self.page_url}/incidents/{incident_id}"


def entry_id(site: FeedSite, incident: Incident) -> str:
    """Stable for the incident's life: a tag URI (RFC 4151) like Statuspage's
    ``tag:www.githubstatus.com,2005:Incident/21148992``, dated by the
    incident's creation and independent of the page URL's scheme and port."""
    return f"tag:{site.host},{incident.created_at[:10]}:Incident/{incident.id}"


def entry_updated(incident: Incident, updates: Iterable[IncidentUpdate]) -> str:
    """When the entry last changed: moves with every update, correction and postmortem."""
    return max([incident.updated_at, *(u.updated_at for u in updates)])


def feed_entry(site: FeedSite, incident: Incident, updates: list[IncidentUpdate]) -> FeedEntry:
    """The incident as a feedgen entry (for RSS and Atom alike)."""
    lines = history(incident, updates)
    entry = _entry_class()()
    entry.id(entry_id(site, incident))
    entry.guid(entry_id(site, incident), permalink=False)
    entry.title(incident.name)
    entry.link(href=site.incident_url(incident.id), rel="alternate", type="text/html")
    entry.content(maintenance_header_html(incident, site.tz) + content_html(lines, site.tz), type="html")
    # Atom's published is the entry's first publication (RFC 4287 §4.2.9):
    # the incident's creation, its first update's time, which no later update,
    # correction or postmortem moves. RSS has no <updated>, so its pubDate is,
    # as on Statuspage, the time of the latest line: readers see it move.
    entry.published(parse_ts(incident.created_at))
    entry.rss_pub_date = parse_ts(max(line.at for line in lines) if lines else incident.started_at)
    entry.updated(parse_ts(entry_updated(incident, updates)))
    return entry


@lru_cache(maxsize=1)
def _entry_class() -> type[FeedEntry]:
    """feedgen's entry with RSS pubDate apart from Atom published (feedgen
    sets both from one value). Built on first use: feedgen and lxml load
    only where feeds are built (the publisher), not in the API, which shares
    this module's time and text helpers via pages."""
    from feedgen.entry import FeedEntry
    from feedgen.util import formatRFC2822

    class StatusEntry(FeedEntry):
        rss_pub_date: datetime | None = None

        def rss_entry(self, extensions: bool = True) -> Any:
            item = super().rss_entry(extensions)
            pub_date = item.find("pubDate")
            if self.rss_pub_date is not None and pub_date is not None:
                pub_date.text = formatRFC2822(self.rss_pub_date)
            return item

    return StatusEntry


@dataclass(frozen=True)
class RenderedEntry:
    """An entry serialised once for each format, reused by every feed that holds it."""

    rss: str
    atom: str
    updated: datetime


# An incident's version moves with every write, so (id, version, ...) names
# its content: a warm publisher reuses rendered entries across feeds and
# invocations, and a new update costs one entry, not fifty.
_ENTRY_CACHE: OrderedDict[tuple[object, ...], RenderedEntry] = OrderedDict()
_ENTRY_CACHE_SIZE = 4096


def clear_cache() -> None:
    _ENTRY_CACHE.clear()


def rendered_entry(site: FeedSite, incident: Incident, updates: list[IncidentUpdate]) -> RenderedEntry:
    key = (site, incident.id, incident.version, incident.updated_at, len(updates),
           incident.postmortem_updated_at, max((u.updated_at for u in updates), default=""),
           incident.scheduled_for, incident.scheduled_until, incident.cancelled_at)
    cached = _ENTRY_CACHE.get(key)
    if cached is not None:
        _ENTRY_CACHE.move_to_end(key)
        return cached
    entry = feed_entry(site, incident, updates)
    result = RenderedEntry(
        rss=_RSS_ITEM_TITLE.sub(lambda m: hex_references(m[0]),
                                _etree().tostring(entry.rss_entry(), encoding="unicode"), count=1),
        atom=_etree().tostring(entry.atom_entry(), encoding="unicode"),
        updated=entry.updated(),
    )
    _ENTRY_CACHE[key] = result
    if len(_ENTRY_CACHE) > _ENTRY_CACHE_SIZE:
        _ENTRY_CACHE.popitem(last=False)
    return result


@dataclass(frozen=True)
class Feed:
    """One feed's identity: the page history or one component's."""

    path: str  # without extension: "history" or "components/{id}/history"
    title: str
    description: str


def page_feed(site: FeedSite) -> Feed:
    return Feed("history", f"{site.page_name} Status - Incident History",
                f"Incidents on the {site.page_name} status page")


def component_feed(site: FeedSite, component_id: str, component_name: str) -> Feed:
    return Feed(f"components/{component_id}/history",
                f"{site.page_name} Status - {component_name} Incident History",
                f"Incidents affecting {component_name} on the {site.page_name} status page")


def render(site: FeedSite, feed: Feed, incidents: Sequence[IncidentWithUpdates]) -> tuple[bytes, bytes]:
    """(RSS 2.0, Atom 1.0) bytes for the feed: the newest FEED_ENTRIES incidents and maintenances,
    newest first (by start, as the incidents list orders them; a maintenance starts when it is
    announced, its first update).

    feedgen writes the feed's own elements; each entry is feedgen's too, but
    serialised once (see rendered_entry) and placed where feedgen places
    entries, at the end of <feed> / <channel>. The bytes are exactly what
    feedgen writes for the whole feed (a unit test holds this).
    """
    chosen = sorted(incidents, key=lambda pair: (pair[0].started_at, pair[0].id), reverse=True)[:FEED_ENTRIES]
    entries = [rendered_entry(site, incident, updates) for incident, updates in chosen]
    rss, atom = envelope(site, feed, max((e.updated for e in entries), default=EMPTY_FEED_UPDATED))
    rss_head, rss_tail = _split(rss, b"</channel></rss>")
    atom_head, atom_tail = _split(atom, b"</feed>")
    return (rss_head + "".join(e.rss for e in entries).encode() + rss_tail,
            atom_head + "".join(e.atom for e in entries).encode() + atom_tail)


def envelope(site: FeedSite, feed: Feed, updated: datetime) -> tuple[bytes, bytes]:
    """The feed without entries, as feedgen writes it: (RSS, Atom)."""
    from feedgen.feed import FeedGenerator

    generator = FeedGenerator()
    atom_url = f"{site.page_url}/{feed.path}.atom"
    generator.id(atom_url)
    generator.title(feed.title)
    generator.description(feed.description)
    generator.author(name=site.page_name)
    generator.link(href=site.page_url or "/", rel="alternate", type="text/html")
    generator.language("en")
    generator.generator(GENERATOR)
    generator.updated(updated)
    generator.link(href=atom_url, rel="self", type="application/atom+xml", replace=False)
    atom = generator.atom_str(pretty=False)
    generator.link(href=f"{site.page_url}/{feed.path}.rss", rel="self", type="application/rss+xml", replace=True)
    generator.link(href=site.page_url or "/", rel="alternate", type="text/html", replace=False)
    # Every text in the RSS envelope is plain text (titles, the description,
    # links): the RSS Profile's hexadecimal references throughout.
    rss = hex_references(generator.rss_str(pretty=False).decode()).encode()
    return rss, atom


# lxml writes &, < and > in text as &amp;, &lt; and &gt; (and only those
# references), which the W3C feed validator flags in RSS plain text: the RSS
# Best Practices Profile asks for &#x26;, &#x3C; and &#x3E;. Every "&" that
# lxml writes begins one of its own references, so replacing them is exact:
# a literal "&amp;" in a name was written "&amp;amp;" and becomes
# "&#x26;amp;", which still reads back as "&amp;". An item's description is
# HTML, escaped as markup, and keeps lxml's references (as Statuspage's do);
# Atom's text constructs are left as lxml writes them.
_HEX_REFERENCES = {"&amp;": "&#x26;", "&lt;": "&#x3C;", "&gt;": "&#x3E;"}
_NAMED_REFERENCE = re.compile("&(?:amp|lt|gt);")
_RSS_ITEM_TITLE = re.compile(r"<title>[^<]*</title>")


def hex_references(xml: str) -> str:
    """lxml's named references for &, < and > as hexadecimal character references."""
    return _NAMED_REFERENCE.sub(lambda m: _HEX_REFERENCES[m[0]], xml)


def _split(document: bytes, closing: bytes) -> tuple[bytes, bytes]:
    if not document.endswith(closing):
        raise ValueError(f"feedgen output does not end with {closing!r}")
    return document[: -len(closing)], closing


def _etree() -> Any:
    from lxml import etree

    return etree
