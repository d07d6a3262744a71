"""`/maintenances.ics`: the page's scheduled maintenances as an RFC 5545
calendar that a calendar app subscribes to.

One VEVENT per maintenance. Its UID (`{id}@{page host}`) never changes, so a
subscribed calendar moves the event in place: SEQUENCE is the maintenance's
`schedule_sequence` (raised by each reschedule), one more when it is
cancelled, and a cancelled one stays in the calendar with
`STATUS:CANCELLED` so that apps which copied it remove it. DTSTART and DTEND
are the window in UTC; DTSTAMP and LAST-MODIFIED are when the maintenance
last changed (RFC 5545 §3.8.7.2: without a METHOD, DTSTAMP is when the
information was last revised), so the same table gives the same bytes and the
publisher leaves the object alone until something moved.

`icalendar` is imported on first render, not with this module: only the
publisher pays for it.

Pure: the same maintenances in, the same bytes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from status_fanout.incidents.lifecycle import display_order
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.publishing.feeds import FeedSite, entry_updated
from status_fanout.publishing.presentation import affected_names
from status_fanout.timefmt import parse_ts

CALENDAR_KEY = "maintenances.ics"
CALENDAR_TYPE = "text/calendar; charset=utf-8"
# Calendar apps poll a subscription on their own schedule; this asks for hourly (RFC 7986).
REFRESH_INTERVAL = timedelta(hours=1)

Maintenance = tuple[Incident, list[IncidentUpdate]]


def uid(site: FeedSite, maintenance: Incident) -> str:
    return f"{maintenance.id}@{site.host}"


def sequence(maintenance: Incident) -> int:
    """Raised by each reschedule, and once more by a cancel (RFC 5545 §3.8.7.4:
    a change of DTSTART, DTEND or STATUS is a significant revision)."""
    return maintenance.schedule_sequence + (1 if maintenance.cancelled_at else 0)


def description(site: FeedSite, maintenance: Incident, updates: Sequence[IncidentUpdate],
                components: Mapping[str, Component]) -> str:
    """The latest update's text, the components it affects, and the link to its page."""
    ordered = display_order(updates)
    parts = [ordered[-1].body] if ordered else []
    names = affected_names(maintenance, updates, components)
    if names:
        parts.append("Affects: " + ", ".join(names))
    parts.append(site.incident_url(maintenance.id))
    return "\n\n".join(parts)


def render(site: FeedSite, maintenances: Sequence[Maintenance], components: Mapping[str, Component]) -> bytes:
    """The calendar, latest scheduled first; a maintenance without a window is left out."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", f"-//status-fanout//{site.page_name} scheduled maintenance//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{site.page_name} scheduled maintenance")
    calendar.add("x-wr-caldesc", f"Scheduled maintenance on the {site.page_name} status page ({site.page_url})")
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")  # the same, as Outlook reads it
    ordered = sorted(maintenances, key=lambda pair: (pair[0].scheduled_for or "", pair[0].id), reverse=True)
    for maintenance, updates in ordered:
        if not maintenance.scheduled_for or not maintenance.scheduled_until:
            continue
        changed = parse_ts(entry_updated(maintenance, updates))
        event = Event()
        event.add("uid", uid(site, maintenance))
        event.add("sequence", sequence(maintenance))
        event.add("dtstamp", changed)
        event.add("created", parse_ts(maintenance.created_at))
        event.add("last-modified", changed)
        event.add("dtstart", parse_ts(maintenance.scheduled_for))
        event.add("dtend", parse_ts(maintenance.scheduled_until))
        event.add("summary", maintenance.name)
        event.add("description", description(site, maintenance, updates, components))
        event.add("url", site.incident_url(maintenance.id))
        event.add("status", "CANCELLED" if maintenance.cancelled_at else "CONFIRMED")
        # A maintenance is news, not a meeting: it never makes the reader look busy.
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body
