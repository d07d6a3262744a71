"""A maintenance's window as every notification shows it, in the page's time
zone and the page's time format (`publishing.presentation.long_time`), the
two ends joined by an en dash (DASH): ``Dec 3, 2026 - 02:00 {DASH} 04:00 EST``
within one day, ``Dec 3, 2026 - 22:00 EST {DASH} Dec 4, 2026 - 02:00 EST``
across midnight (and across a change of the zone's offset, so each end names
its own).

Read from the event snapshot's maintenance (its `scheduled_for` and
`scheduled_until`), so the mails and the chat messages of one event agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from status_fanout.publishing.feeds import local_time
from status_fanout.publishing.presentation import long_time

DASH = "–"  # an en dash between the two ends, as a range is written


def window_text(scheduled_for: str | None, scheduled_until: str | None, tz: tzinfo) -> str:
    """The window, or "" when it has no start (not a maintenance)."""
    if not scheduled_for:
        return ""
    if not scheduled_until:
        return long_time(scheduled_for, tz)
    start, end = local_time(scheduled_for, tz), local_time(scheduled_until, tz)
    if start.date() == end.date() and start.strftime("%Z") == end.strftime("%Z"):
        return f"{start:%b} {start.day}, {start.year} - {start:%H:%M} {DASH} {end:%H:%M} {end:%Z}"
    return f"{long_time(scheduled_for, tz)} {DASH} {long_time(scheduled_until, tz)}"


def is_maintenance(incident: Mapping[str, Any] | None) -> bool:
    """Whether an event's incident is a maintenance (Statuspage's model: its impact says so)."""
    return incident is not None and incident.get("impact") == "maintenance"


def event_window(incident: Mapping[str, Any] | None, tz: tzinfo) -> str:
    """The window of an event's maintenance; "" for an incident."""
    if incident is None or not is_maintenance(incident):
        return ""
    return window_text(incident.get("scheduled_for"), incident.get("scheduled_until"), tz)
