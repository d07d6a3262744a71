"""/maintenances.ics as calendar apps read it: RFC 5545, parsed by icalendar
(which writes it) and by `ical`, an independent and strict parser; both must
read the same events. A subscribed calendar moves an event in place by its
UID and SEQUENCE, and drops a cancelled one on STATUS:CANCELLED."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
from ical.calendar_stream import IcsCalendarStream

from status_fanout.publishing import feeds, ics_calendar
from status_fanout.publishing.publisher import RenderPlan, render
from tests.unit.publishing.test_feeds import SETTINGS
from tests.unit.publishing.test_maintenance_documents import NOW, Maintenance, Page, state_of

SITE = feeds.FeedSite.from_settings(SETTINGS)


def calendar_of(page: Page, maintenances: list[Maintenance]) -> bytes:
    """The calendar as the publisher renders it for this page."""
    plan = RenderPlan.everything_in([m.id for m, _ in maintenances], page.components)
    artifact = render(plan, state_of(page, maintenances), SETTINGS)["maintenances.ics"]
    assert artifact.content_type == "text/calendar; charset=utf-8"
    return artifact.body


def utc(value: datetime) -> datetime:
    assert value.utcoffset() == timedelta(0), value
    return value.astimezone(UTC)


def read_with_icalendar(raw: bytes) -> list[dict[str, Any]]:
    calendar = icalendar.Calendar.from_ical(raw)
    return [{
        "uid": str(e["UID"]), "sequence": int(e["SEQUENCE"]), "status": str(e["STATUS"]),
        "start": utc(e.decoded("DTSTART")), "end": utc(e.decoded("DTEND")), "stamp": utc(e.decoded("DTSTAMP")),
        "summary": str(e["SUMMARY"]), "description": str(e["DESCRIPTION"]), "url": str(e["URL"]),
    } for e in calendar.walk("VEVENT")]


def read_with_ical(raw: bytes) -> list[dict[str, Any]]:
    calendar = IcsCalendarStream.calendar_from_ics(raw.decode())
    return [{
        "uid": e.uid, "sequence": e.sequence, "status": str(e.status.value if e.status else None),
        "start": utc(e.dtstart), "end": utc(e.dtend), "stamp": utc(e.dtstamp),  # type: ignore[arg-type]
        "summary": e.summary, "description": e.description, "url": e.url,
    } for e in calendar.events]


def both(raw: bytes) -> list[dict[str, Any]]:
    """The events as both parsers read them: they must agree."""
    ours, theirs = read_with_icalendar(raw), read_with_ical(raw)
    assert ours == theirs
    return ours


def test_one_event_per_maintenance_read_alike_by_two_parsers() -> None:
    # GIVEN an upcoming maintenance and one that is over
    page = Page()
    upcoming = page.schedule("Mail database upgrade", starts_in=timedelta(days=3), lasts=timedelta(hours=2))
    done = page.complete(page.schedule("Queue migration", starts_in=timedelta(hours=2),
                                       component_ids=("transactional-emails",)))
    # WHEN a calendar app reads /maintenances.ics
    raw = calendar_of(page, [upcoming, done])
    events = both(raw)
    # THEN each is an event, latest scheduled first, with its window in UTC
    m = upcoming[0]
    assert events[0] == {
        "uid": f"{m.id}@status.example.com", "sequence": 0, "status": "CONFIRMED",
        "start": NOW + timedelta(days=3), "end": NOW + timedelta(days=3, hours=2), "stamp": NOW,
        "summary": "Mail database upgrade",
        "description": "We are upgrading the mail database; sending may be delayed.\n\nAffects: SMTP Email\n\n"
                       f"https://status.example.com/incidents/{m.id}",
        "url": f"https://status.example.com/incidents/{m.id}",
    }
    # AND the finished one says what its latest update said, and when it last changed
    assert events[1]["summary"] == "Queue migration" and events[1]["status"] == "CONFIRMED"
    assert events[1]["description"].startswith("The scheduled maintenance has been completed.\n\n")
    assert events[1]["stamp"] == NOW + timedelta(hours=4)
    assert b"DTSTART:20261201T120000Z\r\n" in raw and b"DTEND:20261201T140000Z\r\n" in raw


def test_the_calendar_names_itself() -> None:
    raw = calendar_of(Page(), [])
    calendar = icalendar.Calendar.from_ical(raw)
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]) == "-//status-fanout//Bottlenose scheduled maintenance//EN"
    assert str(calendar["X-WR-CALNAME"]) == "Bottlenose scheduled maintenance"
    assert IcsCalendarStream.calendar_from_ics(raw.decode()).prodid == str(calendar["PRODID"])
    # AND an empty page's calendar is empty, and still read by both
    assert both(raw) == []


def test_a_reschedule_raises_the_sequence_and_keeps_the_uid() -> None:
    page = Page()
    first = page.schedule()
    once = page.reschedule(first, timedelta(days=4))
    twice = page.reschedule(once, timedelta(days=5), at=NOW + timedelta(hours=2), lasts=timedelta(hours=3))
    seen = [both(calendar_of(page, [pair]))[0] for pair in (first, once, twice)]
    # THEN the app sees one event, moved twice: same UID, SEQUENCE 0, 1, 2, the new window
    assert len({e["uid"] for e in seen}) == 1
    assert [e["sequence"] for e in seen] == [0, 1, 2]
    assert seen[2]["start"] == NOW + timedelta(days=5) and seen[2]["end"] == NOW + timedelta(days=5, hours=3)
    assert [e["stamp"] for e in seen] == [NOW, NOW + timedelta(hours=1), NOW + timedelta(hours=2)]


def test_a_cancelled_maintenance_stays_as_a_cancelled_event_one_sequence_on() -> None:
    page = Page()
    moved = page.reschedule(page.schedule(), timedelta(days=4))
    cancelled = page.cancel(moved, at=NOW + timedelta(hours=3))
    [before] = both(calendar_of(page, [moved]))
    [after] = both(calendar_of(page, [cancelled]))
    # THEN it is the same event, cancelled: STATUS:CANCELLED and SEQUENCE one more
    assert after["uid"] == before["uid"]
    assert (before["status"], after["status"]) == ("CONFIRMED", "CANCELLED")
    assert (before["sequence"], after["sequence"]) == (1, 2)
    assert after["description"].startswith("This scheduled maintenance has been cancelled.")
    assert after["stamp"] == NOW + timedelta(hours=3)


def test_text_with_rfc_5545_specials_round_trips() -> None:
    # GIVEN names and bodies with commas, semicolons, backslashes, line breaks, markup and non-ASCII text
    page = Page()
    name = 'Upgrade; phase 1, part "A" \\ <b>é</b> ' + "long " * 20
    body = "Line one, with; specials \\n not a break\r\nLine two: 東京 " + "x" * 200
    pair = page.schedule(name, body=body)
    raw = calendar_of(page, [pair])
    [event] = both(raw)
    # THEN both parsers read back exactly what was posted (line breaks as \n)
    assert event["summary"] == name
    assert event["description"].startswith(body.replace("\r\n", "\n") + "\n\n")
    # AND the lines are folded at 75 octets and end in CRLF, as RFC 5545 asks
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) <= 75 for line in lines)
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_the_same_maintenances_give_the_same_bytes() -> None:
    page = Page()
    pairs = [page.schedule(), page.start(page.schedule("Second", starts_in=timedelta(days=1)))]
    assert calendar_of(page, pairs) == calendar_of(page, list(reversed(pairs)))
    assert ics_calendar.render(SITE, pairs, page.components) == ics_calendar.render(SITE, pairs, page.components)
