"""A maintenance's window as the mails and chat messages show it: in the
page's zone, in the page's time format, each end naming its zone when they differ."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from status_fanout.maintenance.window import event_window, window_text

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize("start,end,shown", [
    # within one day: the date once, the zone once
    ("2026-12-04T07:00:00.000Z", "2026-12-04T09:30:00.000Z", "Dec 4, 2026 - 02:00 – 04:30 EST"),
    # across midnight in the page's zone (not in UTC): both ends whole
    ("2026-12-04T03:00:00.000Z", "2026-12-04T09:30:00.000Z", "Dec 3, 2026 - 22:00 EST – Dec 4, 2026 - 04:30 EST"),
    # across the end of daylight saving time: each end with its own zone
    ("2026-11-01T05:00:00.000Z", "2026-11-01T07:30:00.000Z", "Nov 1, 2026 - 01:00 EDT – Nov 1, 2026 - 02:30 EST"),
])
def test_the_window_is_shown_in_the_pages_zone(start: str, end: str, shown: str) -> None:
    assert window_text(start, end, NEW_YORK) == shown


def test_an_incident_has_no_window_and_a_maintenance_without_an_end_shows_its_start() -> None:
    incident = {"impact": "critical", "scheduled_for": None, "scheduled_until": None}
    assert event_window(incident, NEW_YORK) == "" and event_window(None, NEW_YORK) == ""
    assert window_text("2026-12-04T07:00:00.000Z", None, NEW_YORK) == "Dec 4, 2026 - 02:00 EST"
