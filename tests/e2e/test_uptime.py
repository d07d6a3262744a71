"""End to end on the local stack: every component status change is kept
with its time (docs/data-model.md, "Component status history"), and the
publisher turns it into `/uptime.json` (docs/contract.md §11)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from status_fanout.incidents.store import IncidentStore
from status_fanout.publishing import uptime
from status_fanout.timefmt import parse_ts
from status_fanout_local.replay import http_sender, read_plans, replay
from tests.conftest import SEED, STAFF_TOKEN

pytestmark = pytest.mark.e2e
NEW_YORK = ZoneInfo("America/New_York")  # the template's default page zone, the demo's
SEED_COMPONENTS = ["smtp-email", "transactional-emails", "email-marketing", "pop3-imap-email"]


def store(stack: Any) -> IncidentStore:
    return IncidentStore(stack.physical["StatusTable"])


def test_the_replayed_seed_fills_the_history_at_its_display_times(stack: Any) -> None:
    # GIVEN the seed incident (Aug 30 2018, 18:18 to 22:29 EDT) replayed as backfill
    [incident] = replay(http_sender(stack.api_url, STAFF_TOKEN), read_plans(SEED), key_prefix="uptime-seed")
    stack.wait_idle(timeout=30)
    for component_id in SEED_COMPONENTS:
        # WHEN the component's history since that day is read (one query)
        changes = store(stack).component_history(component_id, "2018-08-30T04:00:00.000Z")
        backfill = [(c.changed_at, c.status) for c in changes if c.source == "backfill"]
        # THEN it holds the two changes at their display times (UTC), and nothing was there before
        assert backfill == [("2018-08-30T22:18:00.000Z", "major_outage"),
                            ("2018-08-31T02:29:00.000Z", "operational")], component_id
        assert {c.ref for c in changes if c.source == "backfill"} <= {
            u["id"] for u in incident["incident_updates"]}
        assert store(stack).status_before(component_id, "2018-08-30T04:00:00.000Z") is None
        # AND the component's creation today (operational) is in it too, the live status untouched
        assert [c.source for c in changes][-1] == "put" and changes[-1].status == "operational"
        # AND Aug 30 2018 in New York had 4 h 11 min of major outage: 100 - 15060 / 86400 * 100
        pairs = [(parse_ts(c.changed_at), c.status) for c in changes]
        start = uptime.history_start(parse_ts(changes[-1].changed_at), pairs)
        day = uptime.daily(pairs, start, NEW_YORK, datetime(2018, 8, 31, 12, tzinfo=NEW_YORK))[0]
        assert (day.date, day.major_outage_seconds, day.partial_outage_seconds) == (date(2018, 8, 30), 15060, 0)
        assert day.uptime == 82.57
        # AND the history starts with the backfill, years before the component was created
        assert start == datetime(2018, 8, 30, 22, 18, tzinfo=UTC)
    # AND in UTC the same outage splits over two days (the page's zone decides)
    pairs = [(parse_ts(c.changed_at), c.status) for c in store(stack).component_history("smtp-email", "2018")]
    utc = uptime.daily(pairs, uptime.history_start(datetime.now(UTC), pairs), UTC,
                       datetime(2018, 8, 31, 12, tzinfo=UTC))
    assert [(d.date.isoformat(), d.major_outage_seconds) for d in utc] == [("2018-08-30", 6120),
                                                                           ("2018-08-31", 8940)]


def test_replaying_the_seed_again_writes_no_history_twice(stack: Any) -> None:
    replay(http_sender(stack.api_url, STAFF_TOKEN), read_plans(SEED), key_prefix="uptime-seed")
    stack.wait_idle(timeout=30)
    changes = store(stack).component_history("smtp-email", "2018")
    assert [c.source for c in changes].count("backfill") == 2
