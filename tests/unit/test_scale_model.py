"""The scale model (bench/scale_model.py) says what a user would check by hand:
SES-bound times are subscribers / send rate, the bottleneck is named, the call
counts follow the batch sizes of template.yaml and the code, and its plan jobs
hand off where `Planner.plan_shard` does."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from status_fanout.fanout import Planner
from status_fanout.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_model", ROOT / "bench" / "scale_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_model"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def email(sm: ModuleType, n: int, rate: float, *flags: str) -> dict[str, Any]:
    model = sm.build_model(sm.parse_args(list(flags)))
    result: dict[str, Any] = sm.channel(model, "email", n, rate)
    return result


def test_a_million_mails_at_14_per_second_take_a_million_fourteenths_and_ses_is_the_bottleneck(sm: ModuleType) -> None:
    # GIVEN the template as deployed and SES at 14 mails/s
    # WHEN one update goes to 1,000,000 email subscribers
    result = email(sm, 1_000_000, 14)
    # THEN the last mail leaves after ~1,000,000 / 14 s (plus seconds of pipeline latency)
    assert result["time_to_last_s"] == pytest.approx(1_000_000 / 14, rel=0.01)
    assert "SES" in result["bottleneck"]
    assert result["throughput_per_s"] == pytest.approx(14)


def test_a_million_subscribers_are_all_notified_each_link_of_a_shard_chain_within_its_timeout(sm: ModuleType) -> None:
    # GIVEN the template as deployed: a 120 s FanoutFunction Timeout, hand-off with 20 s left
    model = sm.build_model(sm.parse_args([]))
    timeout = model.deployment.fanout_timeout
    # WHEN one update goes to 1,000,000 email subscribers
    result = email(sm, 1_000_000, 14)
    plan = result["planning"]
    # THEN a shard read in one go would outlive the Timeout (the old failure: 62,500 subscribers, ~207 s) ...
    assert plan["job_seconds_max"] > timeout
    # ... so it is planned as a chain of invocations (a job alone in each), each ending inside the Timeout
    assert plan["chain_links"] >= 2
    assert plan["longest_invocation_seconds"] <= timeout
    assert plan["chain_seconds"] > timeout
    # AND no subscriber is left unplanned (a batch that timed out is retried, its jobs alone): everyone is notified
    assert plan["never_planned_fraction"] == 0
    assert result["notified_fraction"] == 1
    assert plan["status"] != "fails"


def test_with_one_plan_job_per_invocation_no_plan_invocation_times_out_at_a_million(sm: ModuleType) -> None:
    # GIVEN PlanJobs BatchSize 1: every plan job (and every continuation) has an invocation to itself
    # WHEN one update goes to 1,000,000 email subscribers
    result = email(sm, 1_000_000, 14, "--plan-batch", "1")
    plan = result["planning"]
    # THEN no invocation is killed, nothing is planned twice, everyone is notified and nothing blocks
    assert plan["status"] == "ok" and plan["killed_invocations"] == 0
    assert plan["duplicate_delivery_jobs"] == 0
    assert result["notified_fraction"] == 1 and result["blocker"] is None
    # AND planning ends within two chain links of the start, long before the mail does
    assert plan["done_seconds"] < 2 * model_timeout(sm) + 60
    assert plan["done_seconds"] < result["time_to_last_s"] / 100


def test_batchsize_5_puts_a_second_big_plan_job_into_an_invocation_it_cannot_finish(sm: ModuleType) -> None:
    # GIVEN the template's PlanJobs BatchSize 5, the stream side's jobs received five at a time
    # WHEN one update goes to 1,000,000 email subscribers
    result = email(sm, 1_000_000, 14)
    plan = result["planning"]
    # THEN the first job of an invocation reads until it hands off, and the second starts a whole
    # index page (plan_shard checks its clock only after a page) with less time left than the page takes
    over = plan["first_overrun"]
    assert over["job_in_batch"] == 2
    assert over["page_seconds"] > over["seconds_left"]
    assert over["page_seconds"] > model_margin(sm)  # the 20 s margin is shorter than one page
    # AND those invocations time out: their jobs come back after the visibility timeout and plan again
    assert plan["status"] == "at risk" and plan["killed_invocations"] > 0
    assert plan["duplicate_delivery_jobs"] > 0
    assert "BatchSize" in result["blocker"]
    # AND if the same jobs shared a batch on every receive, most would be dead-lettered
    assert plan["worst_never_planned_fraction"] > 0.5


def model_timeout(sm: ModuleType) -> int:
    return int(sm.build_model(sm.parse_args([])).deployment.fanout_timeout)


def model_margin(sm: ModuleType) -> float:
    return float(sm.build_model(sm.parse_args([])).deployment.continue_with_seconds_left)


class TimedIndex:
    """A shard's `all` partition in the model's pages; reading one moves the clock by its time."""

    def __init__(self, pages: list[Any]) -> None:
        self.pages = pages
        self.now = 0.0
        self.reads = 0

    def subscribers_page(self, channel: str, bucket: str, shard: int,
                         start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        if bucket != "all":
            return [], None
        k = int(start["page"]) if start else 0
        self.reads += 1
        self.now += self.pages[k].seconds
        return [{"sk": f"s{k}-{i}"} for i in range(3)], {"page": k + 1} if self.pages[k].more else None


class Queues:
    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent.setdefault(QueueUrl, []).extend(json.loads(e["MessageBody"]) for e in Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def test_the_models_hand_off_is_where_planner_plan_shard_hands_off(sm: ModuleType) -> None:
    # GIVEN one shard of a 1,000,000-subscriber page, in the model's pages and page times
    model = sm.build_model(sm.parse_args([]))
    d = model.deployment
    pages = [p for p in sm.shard_pages(model, "email", 62_500) if p.items]
    settings = Settings(table_name="t", plan_queue_url="plan", email_queue_url="deliveries", fanout_shards=16)
    job = {"event_id": "upd:i1:1", "event_type": "incident.updated", "occurred_at": "2026-11-28T10:00:00.000Z",
           "component_ids": [], "channel": "email", "shard": 0, "buckets": ["all"]}
    budget, margin = float(d.fanout_timeout), d.continue_with_seconds_left

    # WHEN the real planner runs it first in an invocation, its clock moved by the model's page times
    index, queues = TimedIndex(pages), Queues()
    Planner(None, index, settings, sqs=queues).plan_shard(job, lambda: budget - index.now)
    [part] = sm.run_invocation([(pages, 0)], budget, margin, 0.0)
    # THEN it hands off after the same number of pages as the model says, inside the Timeout
    [continuation] = queues.sent["plan"]
    assert part.outcome == "continued" and index.reads == part.pages
    assert continuation["start"] == {"page": part.pages} and index.now <= budget

    # WHEN the continuation runs in a fresh invocation
    index.now, reads = 0.0, index.reads
    Planner(None, index, settings, sqs=queues).plan_shard(continuation, lambda: budget - index.now)
    [rest] = sm.run_invocation([(pages, part.pages)], budget, margin, 0.0)
    # THEN it finishes the shard, as the model's second link does
    assert rest.outcome == "done" and index.reads - reads == len(pages) - part.pages
    assert len(queues.sent["plan"]) == 1

    # WHEN a job starts with what the first job of a batch left (the second of a BatchSize 5 invocation)
    index, queues = TimedIndex(pages), Queues()
    index.now = part.ended  # what the first job of the batch used
    Planner(None, index, settings, sqs=queues).plan_shard(job, lambda: budget - index.now)
    # THEN it reads a whole page before it looks at its clock: past the Timeout, where Lambda kills it
    assert index.reads == 1 and index.now > budget
    [second] = sm.run_invocation([(pages, 0), (pages, 0)], budget, margin, 0.0)[1:]
    assert second.outcome == "killed"


def test_doubling_the_send_rate_halves_the_time_while_ses_is_the_bottleneck(sm: ModuleType) -> None:
    # GIVEN 100,000 subscribers, SES-bound at 14/s
    slow = email(sm, 100_000, 14)
    # WHEN SES allows 28/s
    fast = email(sm, 100_000, 28)
    # THEN the time to the last mail halves, and SES is still what binds
    assert "SES" in slow["bottleneck"] and "SES" in fast["bottleneck"]
    assert fast["time_to_last_s"] / slow["time_to_last_s"] == pytest.approx(0.5, abs=0.01)


def test_past_a_high_send_rate_the_email_senders_concurrency_binds_and_raising_it_helps(sm: ModuleType) -> None:
    # GIVEN a million subscribers, SES at 3,000 mails/s and the template's 5 email sender containers
    capped = email(sm, 1_000_000, 3_000)
    # WHEN MaximumConcurrency (and EMAIL_SENDER_CONCURRENCY with it) goes to 250, with one plan
    # job per invocation (so that no plan invocation times out: see the BatchSize test)
    raised = email(sm, 1_000_000, 3_000, "--email-concurrency", "250", "--plan-batch", "1")
    # THEN the default is bound by the sender, not SES, and the raised one is far faster and SES-bound
    assert capped["bottleneck"].startswith("email sender")
    assert capped["throughput_per_s"] < 3_000
    assert "SES" in raised["bottleneck"]
    assert raised["time_to_last_s"] < capped["time_to_last_s"] / 10
    assert raised["blocker"] is None


def test_64_shards_end_planning_sooner_but_not_the_last_mail_while_the_sender_binds(sm: ModuleType) -> None:
    # GIVEN one plan job per invocation and a million subscribers at the template's sender rate
    sixteen = email(sm, 1_000_000, 200, "--plan-batch", "1")
    # WHEN FANOUT_SHARDS goes from 16 to 64
    sixty_four = email(sm, 1_000_000, 200, "--plan-batch", "1", "--shards", "64")
    # THEN the last delivery job is enqueued in under half the time (shards plan in parallel) ...
    assert sixty_four["planning"]["done_seconds"] < sixteen["planning"]["done_seconds"] / 2
    # ... and the last mail leaves when it did: the 5 email containers, not planning, set it
    assert sixty_four["time_to_last_s"] == pytest.approx(sixteen["time_to_last_s"], abs=5)


def test_call_counts_follow_the_batch_arithmetic(sm: ModuleType) -> None:
    # GIVEN 100,000 email subscribers over the template's 16 shards
    model = sm.build_model(sm.parse_args([]))
    shards, n = model.deployment.shards, 100_000
    # WHEN the model counts the calls of one update
    result = sm.channel(model, "email", n, 14)
    # THEN planning sends ceil(shard / 10) batches per shard, the sender runs in batches of 10,
    # and every mail costs one SendEmail, two GetItems and a claim (PutItem + UpdateItem)
    assert result["sqs"]["SendMessageBatch"] == sum(math.ceil(s / 10) for s in sm.shard_sizes(n, shards))
    assert result["lambda"]["sender_invocations"] == math.ceil(n / model.deployment.email_batch)
    assert result["ses_send_email"] == n
    assert result["dynamodb"]["calls"]["GetItem"] == 2 * n
    assert result["dynamodb"]["calls"]["PutItem"] == result["dynamodb"]["calls"]["UpdateItem"] == n
    # AND the index is read in 1 MB pages of real-sized items, one query more per touched component
    pages_per_shard = math.ceil(math.ceil(n / shards) * model.index_item_bytes["email"] / 1_000_000)
    assert result["dynamodb"]["calls"]["Query"] == shards * (pages_per_shard + model.components)


def test_webhook_batches_of_50_are_received_and_deleted_ten_messages_a_call(sm: ModuleType) -> None:
    # GIVEN 10,000 webhook endpoints and the sender's BatchSize of 50
    model = sm.build_model(sm.parse_args([]))
    # WHEN the model counts the webhook channel's SQS requests
    result = sm.channel(model, "webhook", 10_000)
    # THEN 200 invocations each take 5 receives and 5 deletes, and every delivery writes 3 items
    plan_invocations = math.ceil(model.deployment.shards / model.deployment.plan_batch)
    assert result["lambda"]["sender_invocations"] == 200
    assert result["sqs"]["ReceiveMessage"] == 200 * 5 + plan_invocations
    assert result["dynamodb"]["write_request_units"] == 3 * 10_000


def test_the_cost_of_a_million_mails_is_mostly_ses_at_its_dated_list_price(sm: ModuleType) -> None:
    # GIVEN the prices written down with their date
    assert sm.PRICES_DATE and sm.PRICES["ses_per_thousand_emails"] == 0.10
    # WHEN one update goes to 1,000,000 subscribers at 14/s
    result = email(sm, 1_000_000, 14)
    # THEN SES is $100 of it and everything else together is a few dollars
    assert result["usd"]["ses"] == pytest.approx(100)
    assert 0 < result["usd_total"] - result["usd"]["ses"] < 10
