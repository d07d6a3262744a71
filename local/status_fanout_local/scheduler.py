"""EventBridge Scheduler, locally: moto stores schedules and never fires them,
so the local stack fires the one-time and daily schedules of each schedule
group the template creates, as Scheduler would, through the same runtime the
other event sources (pollers.py) invoke. The handler cannot tell the difference.

What is emulated, per schedule in the group:
- `at(yyyy-mm-ddThh:mm:ss)` in `ScheduleExpressionTimezone` (UTC if unset),
  fired once it is due.
- The daily `cron(<minute> <hour> * * ? *)`, and no other cron form, fired
  at each next time in `ScheduleExpressionTimezone`, as Scheduler fires it
  across a DST change: a time the spring change skips is not fired that day,
  a time the autumn change repeats fires once, the first time (next_daily).
  The next time is counted from when the poller read the schedule (a stack
  started at 00:06 fires a 00:05 schedule tomorrow), and a recurring
  schedule is never deleted. `StartDate` and `EndDate` are ignored.
- `rate()` and every other `cron()` form are never fired here: the poller
  logs a warning once per schedule (and again if it changes).
- `State` DISABLED is not fired; `FlexibleTimeWindow` is ignored (fired at
  the start of the window, the earliest Scheduler may).
- The target is a function of the template (its ARN as the local runtime
  names it); its `Input`, parsed, is the event, as Scheduler passes it to a
  Lambda target. An unknown target is logged and not fired.
- A failed invocation (the handler raised) is tried again after 0.2 s,
  0.4 s, ... at most LOCAL_RETRIES times and never past the target's
  RetryPolicy (MaximumRetryAttempts, MaximumEventAgeInSeconds), then given up
  with an error in the log.
- ActionAfterCompletion DELETE: the schedule is deleted once fired (or given
  up on); with NONE it stays, and is not fired again unless changed.

moto serves each call over HTTP (~8 ms of the one process's CPU for a
listing), so a round lists the group (ListSchedules) and reads a schedule
(GetSchedule) only when it is new or its LastModificationDate changed, and
once more just before firing it, since the API may have moved or deleted it
meanwhile. Between rounds the poller sleeps until moto's Scheduler was
written to (emulator.ScheduleActivity), the next schedule it knows of is
due, or SCHEDULER_IDLE_SECONDS, and never lists more often than every
SCHEDULER_POLL_SECONDS: listing five times a second whatever happened cost
an idle stack ~0.04 cores, more than all its other pollers together.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as time_of_day
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .runtime import Runtime

logger = logging.getLogger("status_fanout_local.scheduler")

# Scheduler's own resolution is the second (an at() expression has no less);
# a fifth of one keeps a step's lateness well under a second here: the
# poller lists the group at most this often, ...
SCHEDULER_POLL_SECONDS = 0.2
# ... and at least this often when nothing wakes it (a write to moto's
# Scheduler, a schedule falling due): every write goes through moto in this
# process and wakes it, so this is only a safety net.
SCHEDULER_IDLE_SECONDS = 5.0
# Scheduler retries a failed invocation for up to a day (185 attempts by
# default); locally a few quick tries say as much and keep tests short.
LOCAL_RETRIES = 3
RETRY_SECONDS = 0.2
# Firings run on threads of their own, so one slow step does not hold up
# another due at the same time; never more at once than this.
MAX_FIRINGS = 4

_AT = re.compile(r"^\s*at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)\s*$")
# The one cron form fired locally: every day at one minute of one hour.
_DAILY = re.compile(r"^\s*cron\(\s*(\d{1,2})\s+(\d{1,2})\s+\*\s+\*\s+\?\s+\*\s*\)\s*$")

ClientFactory = Callable[[str], Any]
_NEVER = object()


class Activity(Protocol):
    """Something that counts writes to the schedules and can be waited on."""

    generation: int

    def changed(self) -> None: ...

    def wait(self, seen: int, timeout: float) -> None: ...


def _zone(timezone: str | None) -> tzinfo:
    return UTC if not timezone or timezone.upper() == "UTC" else ZoneInfo(timezone)


def at_time(expression: str, timezone: str | None = None) -> datetime | None:
    """When a one-time schedule is due (an aware datetime), or None if the
    expression is not `at(...)` (a rate or cron schedule)."""
    match = _AT.match(expression or "")
    if match is None:
        return None
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=_zone(timezone))


def is_daily(expression: str) -> bool:
    """Whether the expression is the daily `cron(<minute> <hour> * * ? *)`, the one recurring form fired here."""
    match = _DAILY.match(expression or "")
    return match is not None and int(match.group(1)) < 60 and int(match.group(2)) < 24


def next_daily(expression: str, timezone: str | None, after: datetime) -> datetime | None:
    """The first time strictly after `after` (aware) that a daily
    `cron(<minute> <hour> * * ? *)` fires in `timezone` (UTC if unset), or
    None for any other expression. As Scheduler does across a DST change: a
    wall time the spring change skips does not fire that day, one the autumn
    change repeats fires once, at its first (daylight) occurrence."""
    if not is_daily(expression):
        return None
    match = _DAILY.match(expression)
    assert match is not None
    minute, hour = int(match.group(1)), int(match.group(2))
    zone = _zone(timezone)
    day = after.astimezone(zone).date() - timedelta(days=1)
    for _ in range(4):  # yesterday, today, tomorrow and the day after: one of them is it
        wall = datetime.combine(day, time_of_day(hour, minute))
        candidate = wall.replace(tzinfo=zone, fold=0)
        exists = candidate.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall
        if exists and candidate > after:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise AssertionError(f"no next time for {expression} after {after}")  # pragma: no cover


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", ""))


@dataclass
class _Known:
    """What the poller last read of a schedule."""

    modified: Any  # LastModificationDate, as ListSchedules gives it
    due: datetime | None  # a daily schedule's next time
    state: str
    daily: bool = False


class SchedulerPoller:
    """Fires the due one-time and daily schedules of one schedule group (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        group: str,
        client: ClientFactory,
        interval: float = SCHEDULER_POLL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        activity: Activity | None = None,
    ) -> None:
        self.runtime = runtime
        self.group = group
        self._client = client
        self.interval = interval
        self.clock = clock
        self._activity = activity
        self._seen: int | None = None  # the activity generation the latest complete round began at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"scheduler-{group}", daemon=True)
        self._known: dict[str, _Known] = {}
        # (name, expression) of the schedules logged as never fired here (rate, other cron forms).
        self._warned: set[tuple[str, str]] = set()
        # Schedules fired and left in place (ActionAfterCompletion NONE): name -> LastModificationDate.
        self._fired: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._firing: dict[str, threading.Thread] = {}
        self._slots = threading.BoundedSemaphore(MAX_FIRINGS)
        self._clients: list[Any] = []  # idle clients for the firing threads
        # Without an activity to watch: the monotonic start of the latest
        # round that found nothing due and nothing firing, None while
        # something is. wait_idle compares caught_up_at with its own start.
        self._caught_up_at: float | None = None
        self.fired = 0  # invocations that succeeded, for tests and benches

    @property
    def description(self) -> str:
        return f"schedule group {self.group}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._activity is not None:
            self._activity.changed()  # wakes the sleeping poller at once

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        with self._lock:
            firing = list(self._firing.values())
        for thread in firing:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._firing)

    @property
    def caught_up_at(self) -> float | None:
        """For wait_idle: a time at which the group had nothing to do, or None.

        With an activity the poller may sleep a second, so instead of waiting
        for its next round this answers "now" if its latest round saw every
        write to the schedules and nothing is due unfired or firing."""
        if self._activity is None:
            return self._caught_up_at
        if self._seen != self._activity.generation or self.busy:
            return None
        if (due := self._next_due()) is not None and due <= self.clock():
            return None
        return time.monotonic()

    def _next_due(self) -> datetime | None:
        """The earliest due time of a schedule not yet fired (maybe past)."""
        with self._lock:
            due = [known.due for name, known in self._known.items()
                   if known.due is not None and known.state == "ENABLED"
                   and self._fired.get(name, _NEVER) != known.modified]
        return min(due, default=None)

    # -- the rounds

    def _run(self) -> None:
        scheduler = self._client("scheduler")
        while not self._stop.is_set():
            seen, started = (self._activity.generation if self._activity else 0), time.monotonic()
            try:
                self.round(scheduler, started)
            except Exception:
                logger.exception("scheduler poller for %s failed; retrying", self.group)
                self._seen, self._caught_up_at = None, None
                self._stop.wait(1.0)
            self._sleep(seen, started)

    def _sleep(self, seen: int, started: float) -> None:
        """Until a write to the schedules, the next due time or the idle
        interval; never less than `interval` after the round began."""
        if self._activity is not None:
            timeout = SCHEDULER_IDLE_SECONDS
            if (due := self._next_due()) is not None:
                timeout = min(timeout, (due - self.clock()).total_seconds())
            self._activity.wait(seen, timeout)
        self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def round(self, scheduler: Any, started: float | None = None) -> list[str]:
        """List the group, fire what is due; the names of the schedules set firing."""
        started = time.monotonic() if started is None else started
        seen = self._activity.generation if self._activity else None
        listed: dict[str, Any] = {}
        token: str | None = None
        while True:
            page = scheduler.list_schedules(GroupName=self.group, **({"NextToken": token} if token else {}))
            for summary in page.get("Schedules") or []:
                listed[summary["Name"]] = summary.get("LastModificationDate")
            token = page.get("NextToken")
            if not token:
                break
        with self._lock:
            for name in set(self._known) - set(listed):
                del self._known[name]
            for name in set(self._fired) - set(listed):
                del self._fired[name]
        for name, modified in listed.items():
            known = self._known.get(name)
            if known is None or known.modified != modified:
                detail = self._get(scheduler, name)
                if detail is None:
                    continue
                read = self._read(name, modified, detail)
                with self._lock:
                    self._known[name] = read
        now = self.clock()
        fired = []
        for name, known in list(self._known.items()):
            if known.due is None or known.due > now or known.state != "ENABLED":
                continue
            with self._lock:
                if self._fired.get(name, _NEVER) == known.modified or name in self._firing \
                        or not self._slots.acquire(blocking=False):
                    continue
                thread = threading.Thread(target=self._fire, args=(name, known.due), daemon=True,
                                          name=f"scheduler-{self.group}-fire")
                self._firing[name] = thread
            thread.start()
            fired.append(name)
        self._caught_up_at = None if (fired or self.busy) else started
        self._seen = seen
        return fired

    def _read(self, name: str, modified: Any, detail: dict[str, Any]) -> _Known:
        """What a schedule read now says: when it is next due (None: never here)."""
        expression = str(detail.get("ScheduleExpression") or "")
        timezone = detail.get("ScheduleExpressionTimezone")
        state = str(detail.get("State") or "ENABLED")
        due = at_time(expression, timezone)
        if due is not None:
            return _Known(modified, due, state)
        if is_daily(expression):
            return _Known(modified, next_daily(expression, timezone, self.clock()), state, daily=True)
        if (name, expression) not in self._warned:
            self._warned.add((name, expression))
            logger.warning("schedule %s/%s: %s is not fired locally (only at(...) and the daily "
                           "cron(<minute> <hour> * * ? *) are)", self.group, name, expression)
        return _Known(modified, None, state)

    def _get(self, scheduler: Any, name: str) -> dict[str, Any] | None:
        try:
            return dict(scheduler.get_schedule(GroupName=self.group, Name=name))
        except Exception as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                return None  # deleted since it was listed
            raise

    # -- one firing

    def _fire(self, name: str, scheduled: datetime | None) -> None:
        with self._lock:
            scheduler = self._clients.pop() if self._clients else None
        try:
            scheduler = scheduler or self._client("scheduler")
            self._fire_with(scheduler, name, scheduled)
        except Exception:
            logger.exception("scheduler poller for %s failed to fire %s", self.group, name)
        finally:
            with self._lock:
                if scheduler is not None:
                    self._clients.append(scheduler)
                self._firing.pop(name, None)
            self._slots.release()

    def _fire_with(self, scheduler: Any, name: str, scheduled: datetime | None = None) -> None:
        # Read again: the API may have moved, disabled or deleted it since the round read it.
        detail = self._get(scheduler, name)
        if detail is None:
            return
        expression, timezone = detail.get("ScheduleExpression", ""), detail.get("ScheduleExpressionTimezone")
        due = at_time(expression, timezone)
        daily = due is None and scheduled is not None and is_daily(expression)
        if daily and scheduled is not None and next_daily(expression, timezone,
                                                          scheduled - timedelta(microseconds=1)) == scheduled:
            due = scheduled  # still a daily schedule of that time
        if due is None or due > self.clock() or (detail.get("State") or "ENABLED") != "ENABLED":
            return
        target = detail.get("Target") or {}
        function = next((logical_id for logical_id, spec in self.runtime.functions.items()
                         if spec.arn == target.get("Arn")), None)
        if function is None:
            logger.error("schedule %s/%s targets %s, not a function of this template; not fired",
                         self.group, name, target.get("Arn"))
        else:
            self._invoke(name, function, target, due)
        if daily:
            self._next(name, detail, due)
        else:
            self._complete(scheduler, name, detail)

    def _next(self, name: str, fired: dict[str, Any], due: datetime) -> None:
        """A daily schedule stays and is next due at its next time after this
        one (or after now, if the stack fell that far behind: no catching up)."""
        later = max(due, self.clock())
        with self._lock:
            known = self._known.get(name)
            if known is not None and known.modified == fired.get("LastModificationDate"):
                known.due = next_daily(fired.get("ScheduleExpression", ""),
                                       fired.get("ScheduleExpressionTimezone"), later)

    def _invoke(self, name: str, function: str, target: dict[str, Any], due: datetime) -> None:
        event = json.loads(target.get("Input") or "{}")
        policy = target.get("RetryPolicy") or {}
        retries = min(LOCAL_RETRIES, int(policy.get("MaximumRetryAttempts", 185)))
        max_age = timedelta(seconds=int(policy.get("MaximumEventAgeInSeconds", 86400)))
        for attempt in range(retries + 1):
            try:
                self.runtime.invoke(function, event)
            except Exception:
                logger.exception("schedule %s/%s: %s failed (attempt %d of %d)", self.group, name, function,
                                 attempt + 1, retries + 1)
                if attempt < retries and self.clock() - due < max_age and not self._stop.is_set():
                    self._stop.wait(RETRY_SECONDS * 2**attempt)
                    continue
                logger.error("schedule %s/%s: gave up on %s after %d attempts", self.group, name, function,
                             attempt + 1)
                return
            with self._lock:
                self.fired += 1
            logger.debug("schedule %s/%s fired %s, %.3f s after it was due", self.group, name, function,
                         (self.clock() - due).total_seconds())
            return

    def _complete(self, scheduler: Any, name: str, fired: dict[str, Any]) -> None:
        """This version of the schedule never fires again; with ActionAfterCompletion
        DELETE it is deleted, unless the API changed it while it ran (then it is
        a new firing, due at its new time)."""
        with self._lock:
            self._fired[name] = fired.get("LastModificationDate")
        if fired.get("ActionAfterCompletion") != "DELETE":
            return
        current = self._get(scheduler, name)
        if current is None or current.get("LastModificationDate") != fired.get("LastModificationDate"):
            return
        try:
            scheduler.delete_schedule(GroupName=self.group, Name=name)
        except Exception as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise
