"""The publisher's uptime rollups (Publisher._uptime_days): a component's
history is read only when its stored rollup no longer holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from status_fanout.incidents.models import Component
from status_fanout.incidents.store import StatusChange
from status_fanout.publishing import uptime
from status_fanout.publishing.feeds import zone
from status_fanout.publishing.publisher import Publisher
from status_fanout.settings import PageSettings, Settings
from status_fanout.timefmt import format_ts

SETTINGS = Settings(table_name="t", public_bucket="b", page=PageSettings(name="P", time_zone="America/New_York"))
NOW = datetime(2026, 11, 1, 18, tzinfo=UTC)  # New York's 25-hour day
CREATED = NOW - timedelta(days=120)


class HistoryTable:
    """The store's rollup and history calls over plain dicts, counting the history reads."""

    def __init__(self, history: dict[str, list[StatusChange]]) -> None:
        self.history = history
        self.rollups: dict[str, dict[str, str]] = {}
        self.read: list[str] = []
        self.rollups_read: list[str] = []

    def uptime_rollups(self, component_ids: Any) -> dict[str, dict[str, str]]:
        self.rollups_read.extend(component_ids)
        return {c: self.rollups[c] for c in component_ids if c in self.rollups}

    def save_uptime_rollups(self, rollups: dict[str, dict[str, str]]) -> None:
        self.rollups.update(rollups)

    def status_window(self, component_id: str, since: str) -> list[StatusChange]:
        self.read.append(component_id)
        changes = self.history.get(component_id, [])
        before = [c for c in changes if c.changed_at < since][-1:]
        return [*before, *(c for c in changes if c.changed_at >= since)]


def change(component_id: str, when: datetime, status: str) -> StatusChange:
    return StatusChange(component_id, format_ts(when), status, "incident", "u")


def expected(table: HistoryTable, component_id: str, now: datetime) -> list[uptime.Day]:
    changes = [(datetime.fromisoformat(c.changed_at), c.status) for c in table.history.get(component_id, [])]
    return uptime.component_window(CREATED, changes, zone(SETTINGS.page.time_zone), now)


def test_only_the_components_whose_history_moved_are_read_again() -> None:
    # GIVEN three components with some history, one of them in an outage now
    stamp = format_ts(CREATED)
    components = {c: Component(id=c, name=c, created_at=stamp, updated_at=stamp) for c in ("a", "b", "c")}
    table = HistoryTable({"a": [change("a", NOW - timedelta(days=3), "major_outage"),
                                change("a", NOW - timedelta(days=3, hours=-2), "operational")],
                          "b": [change("b", NOW - timedelta(hours=2), "partial_outage")]})
    publisher = Publisher(table, SETTINGS)  # type: ignore[arg-type]
    revs = {"a": "1", "b": "1", "c": "1"}
    # WHEN a first render computes them all from their history
    first = publisher._uptime_days(components, revs, NOW, from_history=False)
    assert sorted(table.read) == ["a", "b", "c"] and set(table.rollups) == {"a", "b", "c"}
    # AND c's history moves (a new mark) and a later render of the same day runs
    table.read.clear()
    table.history["c"] = [change("c", NOW - timedelta(days=10), "major_outage"),
                          change("c", NOW - timedelta(days=9), "operational")]
    later = NOW + timedelta(hours=3)
    second = publisher._uptime_days(components, {**revs, "c": "2"}, later, from_history=False)
    # THEN only c is read again, and every window is what the whole history gives at that instant
    # (b's outage, still open, has grown by three hours without its history being read)
    assert table.read == ["c"]
    assert second == {c: expected(table, c, later) for c in components}
    assert second["b"][-1].partial_outage_seconds == first["b"][-1].partial_outage_seconds + 3 * 3600
    # AND after midnight every window is computed again (the window slid)
    table.read.clear()
    publisher._uptime_days(components, {**revs, "c": "2"}, NOW + timedelta(days=1), from_history=False)
    assert sorted(table.read) == ["a", "b", "c"]
    # AND a full render reads every history whatever is stored
    table.read.clear()
    publisher._uptime_days(components, {**revs, "c": "2"}, NOW + timedelta(days=1, hours=1), from_history=True)
    assert sorted(table.read) == ["a", "b", "c"]


def test_a_container_reuses_the_rollups_it_holds_and_reads_those_another_one_moved() -> None:
    # GIVEN two publishers (two containers) over one table, and a first render by the first
    stamp = format_ts(CREATED)
    components = {c: Component(id=c, name=c, created_at=stamp, updated_at=stamp) for c in ("a", "b", "c")}
    table = HistoryTable({"a": [change("a", NOW - timedelta(days=2), "partial_outage")]})
    first, second = Publisher(table, SETTINGS), Publisher(table, SETTINGS)  # type: ignore[arg-type]
    revs = {"a": "1", "b": "1", "c": "1"}
    first._uptime_days(components, revs, NOW, from_history=True)
    table.read.clear()
    # WHEN the second container renders after c's history moved
    table.history["c"] = [change("c", NOW - timedelta(days=5), "major_outage")]
    moved = {**revs, "c": "2"}
    assert second._uptime_days(components, moved, NOW, from_history=False) == {
        c: expected(table, c, NOW) for c in components}
    # THEN, holding nothing, it read every stored rollup, and only c's history
    assert sorted(table.rollups_read) == ["a", "b", "c"] and table.read == ["c"]
    # AND WHEN the first container renders next, later that day
    table.rollups_read.clear()
    table.read.clear()
    later = NOW + timedelta(hours=2)
    days = first._uptime_days(components, moved, later, from_history=False)
    # THEN it reads only c's rollup (the one it holds no longer matches c's mark), no history,
    # and every window is what the whole history gives at that instant
    assert table.rollups_read == ["c"] and table.read == []
    assert days == {c: expected(table, c, later) for c in components}
    # AND once it holds them all, a render reads no rollup at all
    table.rollups_read.clear()
    first._uptime_days(components, moved, later + timedelta(minutes=5), from_history=False)
    assert table.rollups_read == []


def test_a_rollup_of_another_layout_is_computed_again_from_the_history() -> None:
    # GIVEN a stored rollup written in the first layout (one attribute per field), its mark current
    stamp = format_ts(CREATED)
    components = {"a": Component(id="a", name="a", created_at=stamp, updated_at=stamp)}
    table = HistoryTable({"a": [change("a", NOW - timedelta(days=1), "major_outage")]})
    table.rollups["a"] = {"history_rev": "1", "zone": "America/New_York", "today": "2026-11-01",
                          "closed": "[]", "carry": "operational", "today_changes": "[]"}
    # WHEN a render needs a's window
    days = Publisher(table, SETTINGS)._uptime_days(components, {"a": "1"}, NOW,  # type: ignore[arg-type]
                                                   from_history=False)
    # THEN it is read from the history, right, and stored in the current layout
    assert table.read == ["a"] and days["a"] == expected(table, "a", NOW)
    assert "window" in table.rollups["a"]
