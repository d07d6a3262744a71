"""Daily uptime of a component, as Statuspage computes it (docs/contract.md §11). Pure.

A day's uptime is 100 - (major-outage seconds + 0.3 * partial-outage seconds)
/ seconds of that day * 100. Days are the page zone's calendar days with their
real length (a DST day has 23 or 25 hours). Degraded performance and
maintenance count as up.

History starts on the component's creation day, and that day counts whole (as
Statuspage counts from a component's `start_date`: a day, not an instant): the
hours before the creation time are up. Days before it are absent. The day that
holds `now` counts whole too: the outage so far over the whole day's length, so
today's figure only ever falls as the day goes on, never jumps from a short
denominator.

The status before the first change is "operational" (a component is created
operational unless its first change says otherwise, and its creation is a change).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, NamedTuple

MAJOR = "major_outage"
PARTIAL = "partial_outage"
# What a second of partial outage costs, against a second of major outage.
PARTIAL_WEIGHT = 0.3
# Figures are rounded to this many decimals, as Statuspage shows them ("99.95 %").
DECIMALS = 2
WINDOW_DAYS = 90


CalendarDate = date  # inside Day, `date` names its field


class Day(NamedTuple):
    """One page-zone day of a component. A tuple, its figure computed when it
    is made (`Day.of`): a render makes and reads 90 of them per component."""

    date: date
    seconds: int  # the day's real length in the page zone
    major_outage_seconds: int
    partial_outage_seconds: int
    uptime: float

    @classmethod
    def of(cls, day: CalendarDate, seconds: int, major_outage_seconds: int, partial_outage_seconds: int) -> Day:
        return cls(day, seconds, major_outage_seconds, partial_outage_seconds,
                   percentage(major_outage_seconds, partial_outage_seconds, seconds))


def days_json(days: Iterable[Day]) -> list[dict[str, object]]:
    """The days as /uptime.json lists them (SPEC §11): one list of 90 per component, every render."""
    return [{"date": day.isoformat(), "uptime": figure, "major_outage_seconds": major,
             "partial_outage_seconds": partial} for day, _, major, partial, figure in days]


def percentage(major: float, partial: float, seconds: float) -> float:
    if seconds <= 0:
        return 100.0
    return round(100 - (major + PARTIAL_WEIGHT * partial) / seconds * 100, DECIMALS)


def day_start(day: date, tz: tzinfo) -> datetime:
    """Local midnight of a day, as a UTC instant (fold 0: the first midnight).
    Everything here is compared in UTC: aware datetimes sharing one ZoneInfo
    compare and subtract as wall times, wrong across a DST change."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def daily(changes: Iterable[tuple[datetime, str]], created_at: datetime, tz: tzinfo, now: datetime,
          first_day: date | None = None) -> list[Day]:
    """Per page-zone day from the creation day (or `first_day`, if later) to the
    day of `now`: the seconds of major and partial outage. `changes` are
    (when, new status), in any order; those after `now` are ignored."""
    now = now.astimezone(UTC)
    ordered = sorted((when.astimezone(UTC), status) for when, status in changes if when <= now)
    start_day = created_at.astimezone(tz).date()
    if first_day is not None and first_day > start_day:
        start_day = first_day
    last_day = now.astimezone(tz).date()
    if start_day > last_day:
        return []
    # The intervals (start, end, status) up to now.
    intervals: list[tuple[datetime, datetime, str]] = []
    status = "operational"
    since = day_start(start_day, tz)
    for when, new_status in ordered:
        if when > since:
            intervals.append((since, when, status))
            since = when
        status = new_status
    intervals.append((since, now, status))
    days: list[Day] = []
    day = start_day
    index = 0
    while day <= last_day:
        begin, end = day_start(day, tz), day_start(day + timedelta(days=1), tz)
        outage = {MAJOR: 0.0, PARTIAL: 0.0}
        while index < len(intervals) and intervals[index][1] <= begin:
            index += 1
        scan = index
        while scan < len(intervals) and intervals[scan][0] < end:
            lo, hi, what = intervals[scan]
            if what in outage:
                outage[what] += max(0.0, _seconds(max(lo, begin), min(hi, end)))
            scan += 1
        days.append(Day.of(day, round(_seconds(begin, end)), round(outage[MAJOR]), round(outage[PARTIAL])))
        day += timedelta(days=1)
    return days


def window(changes: Iterable[tuple[datetime, str]], created_at: datetime, tz: tzinfo, now: datetime,
           days: int = WINDOW_DAYS) -> list[Day]:
    """The last `days` page-zone days ending today (fewer for a younger component)."""
    first = now.astimezone(tz).date() - timedelta(days=days - 1)
    return daily(changes, created_at, tz, now, first_day=first)


def overall(days: Sequence[Day]) -> float:
    """The uptime over the days present, weighted by their lengths (100 when none)."""
    major = partial = seconds = 0
    for d in days:  # one pass, not three: every render sums 90 days for every component, twice
        major += d.major_outage_seconds
        partial += d.partial_outage_seconds
        seconds += d.seconds
    return percentage(major, partial, seconds)


def history_start(created_at: datetime, changes: Iterable[tuple[datetime, str]]) -> datetime:
    """Where a component's uptime history starts: its creation, or its first
    recorded change if earlier (a backfill reaching back before it was created)."""
    return min([created_at, *(when for when, _ in changes)])


def window_start(tz: tzinfo, now: datetime, days: int = WINDOW_DAYS) -> datetime:
    """The first instant of the window: local midnight `days - 1` days before today."""
    return day_start(now.astimezone(tz).date() - timedelta(days=days - 1), tz)


def component_window(created_at: datetime, changes: Sequence[tuple[datetime, str]], tz: tzinfo,
                     now: datetime) -> list[Day]:
    """A component's days in the window, its history starting at `history_start`."""
    return window(changes, history_start(created_at, changes), tz, now)



@dataclass(frozen=True)
class Rollup:
    """What a render keeps of a component's window so the next one need not
    read its history again: the closed days (before today) as figures, and of
    today only the status it began with and its changes, from which today's
    figure at any later instant of the day follows exactly (`days_at`).

    It holds while the component's `history_rev` is `rev` (every write that
    moves the history sets a new one), the page's zone is `zone` and today is
    `today` in it: at midnight the window slides and it is computed again."""

    rev: str
    zone: str
    today: date
    closed: tuple[Day, ...]
    carry: str  # the status at today's local midnight
    today_changes: tuple[tuple[datetime, str], ...]  # after it, oldest first (later ones too)

    def holds(self, rev: str, zone: str, today: date) -> bool:
        return (self.rev, self.zone, self.today) == (rev, zone, today)

    def days_at(self, tz: tzinfo, now: datetime) -> list[Day]:
        """The window at `now` (a later instant of `today`): what
        `component_window` returns from the history the rollup was made of."""
        start = day_start(self.today, tz)
        today = daily([(start, self.carry), *self.today_changes], start, tz, now, first_day=self.today)
        return [*self.closed, *today]

    def as_fields(self) -> dict[str, str]:
        """Two strings for one table item: the mark, and the rest as one JSON
        text (`window`; one attribute to parse, not 90 maps): the zone, today,
        the first closed day, each closed day's seconds, outage seconds and
        figure (the days follow one another), the carry, today's changes."""
        first = self.closed[0].date.isoformat() if self.closed else None
        closed = [[d.seconds, d.major_outage_seconds, d.partial_outage_seconds, d.uptime] for d in self.closed]
        changes = [[when.isoformat(), status] for when, status in self.today_changes]
        return {"history_rev": self.rev,
                "window": json.dumps([self.zone, self.today.isoformat(), first, closed, self.carry, changes],
                                     separators=(",", ":"))}

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Rollup | None:
        """The rollup `as_fields` wrote; None for anything else (an item of an
        older layout is computed again, like one that does not hold)."""
        text = fields.get("window")
        if not isinstance(text, str):
            return None
        zone, today, first, closed, carry, changes = json.loads(text)
        dates = _following_days(date.fromisoformat(first or today), len(closed))
        days = tuple(Day(day, f[0], f[1], f[2], f[3]) for day, f in zip(dates, closed, strict=True))
        return cls(str(fields["history_rev"]), zone, date.fromisoformat(today), days, carry,
                   tuple((datetime.fromisoformat(when), status) for when, status in changes))


@lru_cache(maxsize=16)  # a render's rollups mostly share their first day and length
def _following_days(first: date, count: int) -> tuple[date, ...]:
    return tuple(first + timedelta(days=n) for n in range(count))


def rollup(created_at: datetime, changes: Sequence[tuple[datetime, str]], tz: tzinfo, zone: str, now: datetime,
           rev: str) -> tuple[Rollup | None, list[Day]]:
    """A component's window at `now` (`component_window`) and its rollup (none
    for a history that has not begun by today: nothing worth keeping)."""
    days = component_window(created_at, changes, tz, now)
    if not days:
        return None, days
    today = now.astimezone(tz).date()
    start = day_start(today, tz)
    carry = "operational"
    later: list[tuple[datetime, str]] = []
    for when, status in sorted((when.astimezone(UTC), status) for when, status in changes):
        if when <= start:
            carry = status
        else:
            later.append((when, status))
    closed = tuple(d for d in days if d.date < today)
    return Rollup(rev, zone, today, closed, carry, tuple(later)), days
