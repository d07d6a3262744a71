"""The local stack's EventBridge Scheduler (status_fanout_local.scheduler):
which schedules of a group it fires, when, with what, how often, and what it
leaves behind; against a fake Scheduler client and a fake runtime."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from status_fanout_local import scheduler as local_scheduler
from status_fanout_local.scheduler import SchedulerPoller, at_time

NOW = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
GROUP = "maintenance-group"
CLOCK = "arn:aws:lambda:us-east-1:123456789012:function:status-fanout-local-clock"


class FakeRuntime:
    def __init__(self, failures: int = 0) -> None:
        self.functions = {"Clock": SimpleNamespace(arn=CLOCK)}
        self.events: list[tuple[str, Any]] = []
        self.failures = failures

    def invoke(self, function: str, event: Any) -> Any:
        self.events.append((function, event))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the table is throttled")
        return {"applied": True}


class FakeScheduler:
    """Schedules of one group as GetSchedule returns them; LastModificationDate moves on each change."""

    def __init__(self) -> None:
        self.schedules: dict[str, dict[str, Any]] = {}
        self.version = 0.0
        self.deleted: list[str] = []
        self.gets = 0
        self.on_get: Any = None

    def put(self, name: str, at: datetime, *, arn: str = CLOCK, state: str = "ENABLED", after: str = "DELETE",
            retry: dict[str, int] | None = None, payload: Any = None) -> None:
        self.version += 1
        self.schedules[name] = {
            "Name": name, "GroupName": GROUP, "ScheduleExpression": f"at({at:%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC", "State": state, "ActionAfterCompletion": after,
            "Target": {"Arn": arn, "RoleArn": "arn:aws:iam::123456789012:role/r",
                       "Input": json.dumps(payload if payload is not None else {"name": name}),
                       **({"RetryPolicy": retry} if retry else {})},
            "LastModificationDate": self.version,
        }

    def list_schedules(self, GroupName: str, NextToken: str | None = None) -> dict[str, Any]:
        assert GroupName == GROUP
        return {"Schedules": [{"Name": s["Name"], "LastModificationDate": s["LastModificationDate"]}
                              for s in self.schedules.values()]}

    def get_schedule(self, GroupName: str, Name: str) -> dict[str, Any]:
        self.gets += 1
        if self.on_get is not None:
            self.on_get(Name)
        if Name not in self.schedules:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": Name}}, "GetSchedule")
        return json.loads(json.dumps(self.schedules[Name]))

    def delete_schedule(self, GroupName: str, Name: str) -> dict[str, Any]:
        self.deleted.append(Name)
        if self.schedules.pop(Name, None) is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": Name}}, "DeleteSchedule")
        return {}


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_scheduler, "RETRY_SECONDS", 0.0)


def poller_for(runtime: FakeRuntime, fake: FakeScheduler, now: list[datetime]) -> SchedulerPoller:
    return SchedulerPoller(cast(Any, runtime), GROUP, client=lambda service: fake, clock=lambda: now[0])


def settle(poller: SchedulerPoller) -> None:
    deadline = time.monotonic() + 5
    while poller.busy and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not poller.busy


def test_at_expressions_are_read_in_their_time_zone() -> None:
    assert at_time("at(2026-12-01T10:00:00)") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert at_time("at(2026-12-01T10:00:00)", "America/New_York") == datetime(2026, 12, 1, 15, tzinfo=UTC)
    # rate and cron schedules are not one-time schedules: never fired locally
    assert at_time("rate(5 minutes)") is None and at_time("cron(0 12 * * ? *)") is None


def test_a_due_schedule_fires_once_with_its_input_and_is_deleted() -> None:
    # GIVEN a group with one schedule due now, one due in a minute and one due but disabled
    runtime, fake, now = FakeRuntime(), FakeScheduler(), [NOW]
    fake.put("due", NOW, payload={"maintenance_id": "m1", "step": "start", "sequence": 2})
    fake.put("later", NOW + timedelta(minutes=1))
    fake.put("disabled", NOW - timedelta(minutes=1), state="DISABLED")
    poller = poller_for(runtime, fake, now)
    # WHEN the poller goes round twice
    assert poller.round(fake) == ["due"]
    settle(poller)
    assert poller.round(fake) == []
    # THEN the due one invoked its target with its Input as the event, once, and was deleted
    assert runtime.events == [("Clock", {"maintenance_id": "m1", "step": "start", "sequence": 2})]
    assert fake.deleted == ["due"] and set(fake.schedules) == {"later", "disabled"}
    # AND the one due later fires when its time comes
    now[0] = NOW + timedelta(minutes=1)
    assert poller.round(fake) == ["later"]
    settle(poller)
    assert [event for _, event in runtime.events] == [{"maintenance_id": "m1", "step": "start", "sequence": 2},
                                                     {"name": "later"}]


def test_a_schedule_is_read_only_when_it_is_new_or_changed() -> None:
    # GIVEN a schedule due in an hour
    runtime, fake, now = FakeRuntime(), FakeScheduler(), [NOW]
    fake.put("later", NOW + timedelta(hours=1))
    poller = poller_for(runtime, fake, now)
    # WHEN the poller goes round three times
    for _ in range(3):
        poller.round(fake)
    # THEN it was read once (each round lists the group)
    assert fake.gets == 1
    # AND a change (the API moved it to now) is read and fired
    fake.put("later", NOW)
    assert poller.round(fake) == ["later"]
    settle(poller)
    assert len(runtime.events) == 1


def test_a_failed_invocation_is_retried_a_few_times_then_given_up() -> None:
    # GIVEN a due schedule whose target fails every time
    runtime, fake, now = FakeRuntime(failures=99), FakeScheduler(), [NOW]
    fake.put("due", NOW)
    poller = poller_for(runtime, fake, now)
    # WHEN it fires
    poller.round(fake)
    settle(poller)
    # THEN it was tried 1 + LOCAL_RETRIES times, then deleted (ActionAfterCompletion) and not fired again
    assert len(runtime.events) == 1 + local_scheduler.LOCAL_RETRIES
    assert fake.deleted == ["due"]
    assert poller.round(fake) == [] and poller.fired == 0


def test_the_retry_policy_caps_the_tries_and_a_later_success_counts() -> None:
    # GIVEN one schedule allowing no retry, and one whose target fails once then works
    runtime, fake, now = FakeRuntime(failures=1), FakeScheduler(), [NOW]
    fake.put("once", NOW, retry={"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60})
    poller = poller_for(runtime, fake, now)
    poller.round(fake)
    settle(poller)
    assert len(runtime.events) == 1 and poller.fired == 0
    runtime.failures = 1
    fake.put("twice", NOW)
    poller.round(fake)
    settle(poller)
    assert [name for _, name in runtime.events[1:]] == [{"name": "twice"}, {"name": "twice"}]
    assert poller.fired == 1


def test_a_schedule_kept_after_completion_fires_once_until_it_changes() -> None:
    # GIVEN a due schedule with ActionAfterCompletion NONE
    runtime, fake, now = FakeRuntime(), FakeScheduler(), [NOW]
    fake.put("kept", NOW, after="NONE")
    poller = poller_for(runtime, fake, now)
    # WHEN the poller goes round three times
    for _ in range(3):
        poller.round(fake)
        settle(poller)
    # THEN it fired once and is still there
    assert len(runtime.events) == 1 and "kept" in fake.schedules and fake.deleted == []
    # AND once changed, it is a new one-time schedule
    fake.put("kept", NOW, after="NONE")
    poller.round(fake)
    settle(poller)
    assert len(runtime.events) == 2


def test_a_schedule_moved_or_deleted_after_it_was_listed_does_not_fire() -> None:
    # GIVEN two due schedules that the API moves to tomorrow and deletes right
    # after the poller read them (the second read, just before firing, sees it)
    runtime, fake, now = FakeRuntime(), FakeScheduler(), [NOW]
    fake.put("moved", NOW)
    fake.put("cancelled", NOW)
    reads: dict[str, int] = {}

    def change(name: str) -> None:
        reads[name] = reads.get(name, 0) + 1
        if reads[name] == 2 and name == "moved":
            fake.put("moved", NOW + timedelta(days=1))
        if reads[name] == 2 and name == "cancelled":
            del fake.schedules["cancelled"]

    fake.on_get = change
    poller = poller_for(runtime, fake, now)
    # WHEN the poller finds them due
    assert sorted(poller.round(fake)) == ["cancelled", "moved"]
    settle(poller)
    # THEN neither fired, and the moved one is still there for its new time
    assert runtime.events == [] and set(fake.schedules) == {"moved"} and fake.deleted == []


def test_a_target_that_is_not_a_function_of_the_template_is_not_invoked() -> None:
    runtime, fake, now = FakeRuntime(), FakeScheduler(), [NOW]
    fake.put("elsewhere", NOW, arn="arn:aws:lambda:us-east-1:123456789012:function:someone-else")
    poller = poller_for(runtime, fake, now)
    poller.round(fake)
    settle(poller)
    assert runtime.events == [] and fake.deleted == ["elsewhere"]


def test_the_group_is_caught_up_only_when_nothing_is_due_or_firing() -> None:
    # GIVEN a due schedule
    runtime, fake, now = FakeRuntime(), FakeScheduler(), [NOW]
    fake.put("due", NOW)
    poller = poller_for(runtime, fake, now)
    # WHEN a round sets it firing, it is not caught up
    poller.round(fake, started=1.0)
    assert poller.caught_up_at is None
    settle(poller)
    # THEN the next round, with nothing due, is
    poller.round(fake, started=2.0)
    assert poller.caught_up_at == 2.0


class FakeActivity:
    def __init__(self) -> None:
        self.generation = 0

    def changed(self) -> None:
        self.generation += 1

    def wait(self, seen: int, timeout: float) -> None:
        return None


def test_with_an_activity_the_group_is_caught_up_until_a_write_or_a_due_time() -> None:
    # GIVEN a poller that sleeps on writes to the schedules, and a schedule due in a minute
    runtime, fake, now, activity = FakeRuntime(), FakeScheduler(), [NOW], FakeActivity()
    fake.put("later", NOW + timedelta(minutes=1))
    poller = SchedulerPoller(cast(Any, runtime), GROUP, client=lambda service: fake, clock=lambda: now[0],
                             activity=activity)
    # WHEN nothing has been read yet, it is not caught up
    assert poller.caught_up_at is None
    # AND after a round that saw every write and found nothing due, it is, without another round
    poller.round(fake)
    assert poller.caught_up_at is not None
    # BUT a write to the schedules since (the API made one) is work to look at
    activity.changed()
    assert poller.caught_up_at is None
    poller.round(fake)
    assert poller.caught_up_at is not None
    # AND so is a schedule falling due, until it has fired
    now[0] = NOW + timedelta(minutes=1)
    assert poller.caught_up_at is None
    poller.round(fake)
    settle(poller)
    activity.changed()  # its delete
    poller.round(fake)
    assert poller.caught_up_at is not None and len(runtime.events) == 1


# --- the daily cron(M H * * ? *) ----------------------------------------------------------

NEW_YORK = "America/New_York"


def test_the_next_daily_time_in_new_york_across_the_spring_change() -> None:
    from status_fanout_local.scheduler import next_daily

    daily = "cron(5 0 * * ? *)"
    # GIVEN 2026-03-08, when New York's clocks go from 02:00 EST to 03:00 EDT
    # THEN five past midnight that day is still EST (05:05 UTC), the next one EDT (04:05 UTC)
    assert next_daily(daily, NEW_YORK, datetime(2026, 3, 8, 4, tzinfo=UTC)) == datetime(2026, 3, 8, 5, 5, tzinfo=UTC)
    assert next_daily(daily, NEW_YORK, datetime(2026, 3, 8, 5, 5, tzinfo=UTC)) == \
        datetime(2026, 3, 9, 4, 5, tzinfo=UTC)
    # AND 02:30, which New York skips that day, does not fire that day (Scheduler skips it too)
    assert next_daily("cron(30 2 * * ? *)", NEW_YORK, datetime(2026, 3, 8, 5, tzinfo=UTC)) == \
        datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    # AND 01:30, which the autumn change (2026-11-01) repeats, fires once: the first, EDT one
    first = next_daily("cron(30 1 * * ? *)", NEW_YORK, datetime(2026, 11, 1, 4, tzinfo=UTC))
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert next_daily("cron(30 1 * * ? *)", NEW_YORK, first) == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
    # AND without a zone it is UTC; other cron forms and rate() are not daily
    assert next_daily("cron(0 12 * * ? *)", None, NOW) == datetime(2026, 12, 1, 12, tzinfo=UTC)
    for other in ("cron(0 12 ? * MON-FRI *)", "cron(0/5 * * * ? *)", "cron(0 12 1 * ? *)", "rate(1 day)",
                  "cron(60 0 * * ? *)", "at(2026-12-01T10:00:00)"):
        assert next_daily(other, NEW_YORK, NOW) is None, other


def put_expression(fake: FakeScheduler, name: str, expression: str, timezone: str = NEW_YORK) -> None:
    fake.put(name, NOW, after="NONE", payload={"render": "daily"})
    fake.schedules[name].update(ScheduleExpression=expression, ScheduleExpressionTimezone=timezone)


def test_a_daily_schedule_fires_at_each_next_time_and_stays(caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a daily five-past-midnight New York schedule, and a weekday one, read at 23:00 EST
    runtime, fake, now = FakeRuntime(), FakeScheduler(), [datetime(2026, 12, 2, 4, tzinfo=UTC)]
    put_expression(fake, "daily", "cron(5 0 * * ? *)")
    put_expression(fake, "weekdays", "cron(5 0 ? * MON-FRI *)")
    poller = poller_for(runtime, fake, now)
    assert poller.round(fake) == []
    # WHEN midnight passes, and five past
    now[0] = datetime(2026, 12, 2, 5, 4, 59, tzinfo=UTC)
    assert poller.round(fake) == []
    now[0] = datetime(2026, 12, 2, 5, 5, tzinfo=UTC)
    assert poller.round(fake) == ["daily"]
    settle(poller)
    # THEN it fired with its Input, once, and stays (a recurring schedule is never deleted)
    for _ in range(3):
        assert poller.round(fake) == []
    assert runtime.events == [("Clock", {"render": "daily"})]
    assert fake.deleted == [] and set(fake.schedules) == {"daily", "weekdays"}
    # AND the next night it fires again, without reading the schedule again
    gets = fake.gets
    now[0] = datetime(2026, 12, 3, 5, 5, 1, tzinfo=UTC)
    assert poller.round(fake) == ["daily"]
    settle(poller)
    assert len(runtime.events) == 2 and fake.gets == gets + 1  # the one read before firing
    # AND the weekday form never fired, with one warning however many rounds
    warnings = [r for r in caplog.records if "weekdays" in r.getMessage() and r.levelname == "WARNING"]
    assert len(warnings) == 1 and "not fired locally" in warnings[0].getMessage()


def test_a_daily_schedule_moved_before_it_fires_fires_at_its_new_time() -> None:
    # GIVEN a daily schedule due at 00:05 New York, moved to 00:10 after the round that found it due read it
    runtime, fake, now = FakeRuntime(), FakeScheduler(), [datetime(2026, 12, 2, 4, tzinfo=UTC)]
    put_expression(fake, "daily", "cron(5 0 * * ? *)")
    poller = poller_for(runtime, fake, now)
    poller.round(fake)
    now[0] = datetime(2026, 12, 2, 5, 5, tzinfo=UTC)
    fake.on_get = lambda name: fake.schedules[name].update(ScheduleExpression="cron(10 0 * * ? *)")
    assert poller.round(fake) == ["daily"]
    settle(poller)
    fake.on_get = None
    # THEN it did not fire at 00:05
    assert runtime.events == []
    # AND once the change is listed, it fires at 00:10
    put_expression(fake, "daily", "cron(10 0 * * ? *)")
    assert poller.round(fake) == []
    now[0] = datetime(2026, 12, 2, 5, 10, tzinfo=UTC)
    assert poller.round(fake) == ["daily"]
    settle(poller)
    assert runtime.events == [("Clock", {"render": "daily"})]
