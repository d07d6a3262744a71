"""A planning job that runs short of time hands the rest of its shard on."""

from __future__ import annotations

from typing import Any

from status_fanout.delivery.planner import Planner
from status_fanout.settings import FanoutSettings, Settings, WebhookSettings
from tests.support.fake_sqs import SentMessages

PAGE = 10


class PagedIndex:
    """One shard's index partitions, served in pages as DynamoDB would."""

    def __init__(self, buckets: dict[str, list[str]]) -> None:
        self.buckets = buckets
        self.reads = 0

    def subscribers_page(self, channel: str, bucket: str, shard: int,
                         start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        self.reads += 1
        ids = self.buckets.get(bucket, [])
        offset = int(start["sk"]["S"]) if start else 0
        page = ids[offset:offset + PAGE]
        following = {"pk": {"S": bucket}, "sk": {"S": str(offset + PAGE)}} if offset + PAGE < len(ids) else None
        return [{"sk": i} for i in page], following


SETTINGS = Settings(table_name="t", fanout=FanoutSettings(plan_queue_url="plan", shards=1),
                    webhook=WebhookSettings(queue_url="deliveries"))
JOB = {"event_id": "upd:i1:1", "event_type": "incident.updated", "occurred_at": "2026-11-28T10:00:00.000Z",
       "component_ids": ["smtp"], "channel": "webhook", "shard": 0, "buckets": ["all", "c:smtp"]}


def test_a_job_short_of_time_continues_where_it_stopped_and_loses_nobody() -> None:
    # GIVEN 35 subscribers of everything and 12 of one component, in pages of ten
    index = PagedIndex({"all": [f"a{n:02d}" for n in range(35)], "c:smtp": [f"s{n:02d}" for n in range(12)]})
    queues = SentMessages()
    planner = Planner(None, index, SETTINGS, sqs=queues)  # type: ignore[arg-type]
    clock = iter([100.0, 100.0, 5.0])  # asked before each page: plenty twice, then nearly out
    # WHEN the job runs out of time after two pages
    first = planner.plan_shard(JOB, lambda: next(clock, 5.0))
    # THEN what it read is enqueued and the rest goes back on the plan queue
    [continuation] = queues.sent["plan"]
    assert first == 20 and continuation["bucket_index"] == 0 and continuation["start"]
    # WHEN the continuation runs with time to spare
    rest = planner.plan_shard(continuation)
    # THEN every subscriber has exactly one delivery job, none twice
    ids = [job["subscriber_id"] for job in queues.sent["deliveries"]]
    assert first + rest == 47 and sorted(ids) == sorted(index.buckets["all"] + index.buckets["c:smtp"])
    assert len({job["delivery_id"] for job in queues.sent["deliveries"]}) == 47


def test_a_job_with_time_to_spare_reads_everything_at_once() -> None:
    index = PagedIndex({"all": [f"a{n:03d}" for n in range(120)]})
    queues = SentMessages()
    planner = Planner(None, index, SETTINGS, sqs=queues)  # type: ignore[arg-type]
    assert planner.plan_shard(JOB) == 120
    assert "plan" not in queues.sent and index.reads == 12 + 1  # twelve pages of "all", one of c:smtp


def test_a_job_starting_with_too_little_time_reads_nothing_and_hands_itself_on() -> None:
    # GIVEN the second job of a batch, starting after the first used up the invocation
    index = PagedIndex({"all": [f"a{n:02d}" for n in range(35)]})
    queues = SentMessages()
    planner = Planner(None, index, SETTINGS, sqs=queues)  # type: ignore[arg-type]
    # WHEN it starts with 10 s left
    assert planner.plan_shard(JOB, lambda: 10.0) == 0
    # THEN it read no page and re-queued itself from the start
    [continuation] = queues.sent["plan"]
    assert index.reads == 0 and continuation["bucket_index"] == 0 and continuation["start"] is None
    assert planner.plan_shard(continuation) == 35
