"""The public HTML: status page, incident pages, the subscribe form, and the
confirm / manage / unsubscribe pages the subscription API serves.

Jinja2 with autoescaping on for every template, so every name, body, email
address and token is escaped wherever it lands (text or attribute). Plain
HTML and CSS: readable with JavaScript off; the CSS is inlined (no extra
request, nothing third-party) and pinned by hash in a Content-Security-Policy.
Pure: the same state in, the same bytes out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from status_fanout.incidents.lifecycle import STATUS_LABELS
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.publishing import feeds, uptime
from status_fanout.publishing.presentation import (
    COMPONENT_STATUS_LABELS,
    IMPACT_LABELS,
    affected_names,
    grouped,
    long_time,
)
from status_fanout.publishing.public_json import is_active, soonest_first, status_object
from status_fanout.settings import Settings
from status_fanout.timefmt import parse_ts

HTML_TYPE = "text/html; charset=utf-8"
TEMPLATES = Path(__file__).parent / "templates"
RECENT_ON_PAGE = 10



# --- environment -----------------------------------------------------------------

def time_range(start: str, end: str | None, tz: tzinfo) -> list[tuple[str, str]]:
    """A period's ends as (timestamp, text), which the page joins with an en dash:
    ``Aug 30, 2018 - 18:18`` and ``22:29 EDT``.

    The date is shown once when both ends fall on the same local day (the
    zone's day, not UTC's), and the zone once unless it changed in between
    (``Nov 4, 2018 - 01:30 EDT`` and ``01:10 EST``); no end, the start alone."""
    if not end:
        return [(start, long_time(start, tz))]
    first, last = feeds.local_time(start, tz), feeds.local_time(end, tz)
    if first.date() != last.date():
        return [(start, long_time(start, tz)), (end, long_time(end, tz))]
    zone = "" if f"{first:%Z}" == f"{last:%Z}" else f" {first:%Z}"
    return [(start, f"{first:%b} {first.day}, {first.year} - {first:%H:%M}{zone}"), (end, f"{last:%H:%M} {last:%Z}")]


def _text_html(text: str) -> Markup:
    return Markup(feeds.text_html(text))  # noqa: S704 - text_html escapes everything it is given


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        long_time=long_time,
        time_range=time_range,
        text_html=_text_html,
        status_label=lambda s: COMPONENT_STATUS_LABELS.get(s, s),
        impact_label=lambda s: IMPACT_LABELS.get(s, s),
        incident_status_label=lambda s: STATUS_LABELS.get(s, s),
    )
    return env


@cache
def _css() -> tuple[Markup, str]:
    """The stylesheet and its CSP source expression."""
    css = (TEMPLATES / "status.css").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return Markup(css), f"sha256-{digest}"  # noqa: S704 - our own file, never user input


@dataclass(frozen=True)
class Site:
    name: str
    url: str
    tz: tzinfo
    tz_name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Site:
        return cls(settings.page.name, settings.page.url, feeds.zone(settings.page.time_zone),
                   settings.page.time_zone)


def _render(template: str, settings: Settings, *, base: str = "", api_base: str = "", **context: Any) -> str:
    css, css_hash = _css()
    return _environment().get_template(template).render(
        site=Site.from_settings(settings), base=base, api_base=api_base, css=css, css_hash=css_hash, **context
    )


# --- view models -----------------------------------------------------------------

@dataclass(frozen=True)
class OpenIncident:
    incident: Incident
    lines: list[feeds.HistoryLine]


@dataclass(frozen=True)
class OpenMaintenance:
    """An upcoming or active maintenance as the status page shows it."""

    maintenance: Incident
    lines: list[feeds.HistoryLine]
    active: bool
    affected: list[str]


@dataclass(frozen=True)
class UptimeBar:
    # The 90 `<li>` marks, oldest first: each day's colour class and its text
    # alternative (a tooltip and, for screen readers, hidden text).
    marks: Markup
    total: str  # the 90-day uptime, "99.95 %"


def uptime_class(day: uptime.Day | None) -> str:
    """A day's colour: no data (before the history starts), all up, or by how much was lost."""
    if day is None:
        return "u-none"
    value = day.uptime
    return "u-100" if value >= 100 else "u-99" if value >= 99 else "u-95" if value >= 95 else "u-0"


@cache  # a page's 4,500 marks hold few distinct figures (most days are 100.00 %)
def percent(value: float) -> str:
    return f"{value:.2f} %"


def incident_spans(incidents: Iterable[Incident], component_id: str,
                   now: datetime) -> list[tuple[datetime, datetime, str]]:
    """(start, end, name) of each incident touching a component (open ones end now)."""
    return [(parse_ts(i.started_at), parse_ts(i.resolved_at) if i.resolved_at else now, i.name)
            for i in incidents if component_id in i.component_ids and not i.is_maintenance]


@dataclass(frozen=True)
class WindowDate:
    """One page-zone day of the 90-day window: its label and its bounds (UTC)."""

    date: date
    label: str
    begin: datetime
    end: datetime


def window_dates(tz: tzinfo, now: datetime) -> list[WindowDate]:
    """The window's days, oldest first: the same for every bar of a render, so computed once."""
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=back) for back in range(uptime.WINDOW_DAYS - 1, -1, -1)]
    bounds = [uptime.day_start(day, tz) for day in [*days, today + timedelta(days=1)]]
    return [WindowDate(day, f"{day:%b} {day.day}, {day.year}", bounds[n], bounds[n + 1])
            for n, day in enumerate(days)]


def uptime_bar(component_id: str, days: Sequence[uptime.Day], incidents: Sequence[Incident], now: datetime,
               dates: Sequence[WindowDate]) -> UptimeBar:
    """The 90 marks of a component's bar, oldest first (days before its history: no data).

    Built here rather than in a template loop: a page of 50 components has
    4,500 marks, and a status change re-renders them all. Only the incident
    names are text from outside; they are escaped once each, the dates and
    figures are made here."""
    by_date = {d.date: d for d in days}
    spans = [(started, ended, str(escape(name)))
             for started, ended, name in incident_spans(incidents, component_id, now)]
    marks = []
    for when in dates:
        found = by_date.get(when.date)
        if found is None:
            css, text = "u-none", f"{when.label}: no data"
        else:
            # The incidents open on that day.
            names = [name for started, ended, name in spans if started < when.end and ended >= when.begin]
            said = "; incidents: " + ", ".join(names) if names else "; no incidents"
            css, text = uptime_class(found), f"{when.label}: {percent(found.uptime)} uptime{said}"
        marks.append(f'<li class="{css}" title="{text}"><span class="vh">{text}</span></li>')
    return UptimeBar(Markup("".join(marks)),  # noqa: S704 - the names escaped above, the rest made here
                     percent(uptime.overall(days)))


def maintenance_state(maintenance: Incident) -> str:
    """What a maintenance's page says it is: its status label, or "Cancelled"
    (the JSON says `completed`: Statuspage has no cancelled status)."""
    return "Cancelled" if maintenance.cancelled_at else STATUS_LABELS.get(maintenance.status, maintenance.status)


# --- pages the publisher writes to the bucket ----------------------------------

def index_page(
    settings: Settings,
    components: Iterable[Component],
    unresolved: Sequence[tuple[Incident, list[IncidentUpdate]]],
    recent: Sequence[Incident],
    maintenances: Sequence[tuple[Incident, list[IncidentUpdate]]] = (),
    uptime_days: Mapping[str, Sequence[uptime.Day]] | None = None,
    now: datetime | None = None,
) -> str:
    """`/`: overall status, open incidents with their updates, scheduled maintenance
    (those under way first, then the upcoming ones, soonest first), components
    by group (with `uptime_days`, each with its 90-day bar), recent history."""
    components = list(components)
    bars: dict[str, UptimeBar] = {}
    if uptime_days is not None and now is not None:
        tz = feeds.zone(settings.page.time_zone)
        # An open incident is in both lists (recent history holds it too): once per bar.
        incidents = list({i.id: i for i in [*(i for i, _ in unresolved), *recent]}.values())
        dates = window_dates(tz, now)
        bars = {c.id: uptime_bar(c.id, uptime_days.get(c.id, []), incidents, now, dates) for c in components}
    by_id = {c.id: c for c in components}
    shown = [OpenMaintenance(m, [ln for ln in feeds.history(m, u) if ln.update_id], is_active(m),
                             affected_names(m, u, by_id)) for m, u in soonest_first(maintenances)]
    return _render(
        "index.html", settings,
        status=status_object(components, (i for i, _ in unresolved), (m for m, _ in maintenances)),
        groups=grouped(components),
        unresolved=[OpenIncident(i, [ln for ln in feeds.history(i, u) if ln.update_id]) for i, u in unresolved],
        maintenances=sorted(shown, key=lambda item: not item.active),
        recent=list(recent)[:RECENT_ON_PAGE],
        bars=bars,
    )


def incident_page(
    settings: Settings, incident: Incident, updates: Sequence[IncidentUpdate], components: Mapping[str, Component]
) -> str:
    """`/incidents/{id}`: title, postmortem, every update newest first with label and time, affected
    components. A maintenance's page also shows its window and what it is now (cancelled included)."""
    lines = feeds.history(incident, updates)
    postmortem = lines[0] if lines and lines[0].update_id is None else None
    return _render(
        "incident.html", settings,
        incident=incident, postmortem=postmortem, lines=[ln for ln in lines if ln.update_id],
        affected=affected_names(incident, updates, components),
        state=maintenance_state(incident) if incident.is_maintenance else None,
    )


def subscribe_page(settings: Settings, components: Iterable[Component]) -> str:
    """`/subscribe`: email and component choice, posted to the subscription API."""
    return _render("subscribe.html", settings, groups=grouped(components))


# --- pages the subscription API serves ----------------------------------------------
# Links back to the status page are absolute (the API may be reached on its own
# host); form actions go to `api_base` + /v1/... (default: this origin, as
# CloudFront routes /v1/* to the API).

def confirm_page(settings: Settings, token: str, *, email: str | None = None, api_base: str = "") -> str:
    """GET /v1/subscriptions/confirm?token=: a button that POSTs the confirmation (link scanners only GET)."""
    return _render("confirm.html", settings, base=settings.page.url, api_base=api_base, token=token, email=email)


def manage_page(
    settings: Settings,
    token: str,
    components: Iterable[Component],
    selected: Iterable[str],
    *,
    email: str | None = None,
    api_base: str = "",
) -> str:
    """GET /v1/subscriptions/manage?token=: the subscriber's components, preselected, and Save."""
    return _render("manage.html", settings, base=settings.page.url, api_base=api_base, token=token,
                   email=email, groups=grouped(components), selected=set(selected))


def unsubscribe_page(settings: Settings, token: str, *, email: str | None = None, api_base: str = "") -> str:
    """GET /v1/subscriptions/unsubscribe?token=: a button posting the RFC 8058 body
    (List-Unsubscribe=One-Click) to the same URL."""
    return _render("unsubscribe.html", settings, base=settings.page.url, api_base=api_base, token=token,
                   email=email)


def message_page(settings: Settings, heading: str, *paragraphs: str) -> str:
    """A plain page with a heading and paragraphs (all escaped)."""
    return _render("message.html", settings, base=settings.page.url, heading=heading, paragraphs=paragraphs)


def check_inbox_page(settings: Settings) -> str:
    """The answer to a subscribe form post (202), whether or not the address is known."""
    return message_page(
        settings, "Check your inbox",
        "If the address can receive email, a message with a confirmation link is on its way. "
        "Open it and press Confirm to start getting updates.",
        "The link works for 7 days. Nothing is sent until you confirm.",
    )


def confirmed_page(settings: Settings) -> str:
    return message_page(settings, "Subscription confirmed",
                        f"You will get an email when {settings.page.name} posts an incident update.")


def unsubscribed_page(settings: Settings) -> str:
    return message_page(settings, "You are unsubscribed",
                        f"You will get no more {settings.page.name} status emails.")


def saved_page(settings: Settings) -> str:
    return message_page(settings, "Preferences saved", "Your component choices are saved.")


def expired_page(settings: Settings) -> str:
    return message_page(settings, "This link has expired",
                        "Confirmation links work for 7 days. Subscribe again to get a new one.")
