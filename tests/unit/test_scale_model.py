"""The scale model (bench/scale_model.py) says what a user would check by hand:
SES-bound times are subscribers / send rate, the bottleneck is named, the call
counts follow the batch sizes of template.yaml and the code, and its plan jobs
hand off where `Planner.plan_shard` does."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from status_fanout.delivery.planner import Planner
from status_fanout.delivery.subscriber_index import PAGE_ITEMS
from status_fanout.settings import EmailSettings, FanoutSettings, Settings
from tests.support.fake_sqs import SentMessages

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


def test_with_batchsize_5_a_later_job_short_of_time_hands_itself_on_and_nothing_is_planned_twice(
        sm: ModuleType) -> None:
    # GIVEN the template's PlanJobs BatchSize 5, the stream side's jobs received five at a time
    # WHEN one update goes to 1,000,000 email subscribers
    result = email(sm, 1_000_000, 14)
    plan = result["planning"]
    # THEN the first job of an invocation reads until it hands off, and the later ones, finding
    # fewer than 20 s left before their first page, hand themselves on unread (3 full batches x 4)
    assert plan["unread_handoffs"] == 12
    # AND no invocation is killed: nothing comes back after the visibility timeout, nothing is
    # planned twice, everyone is notified, and nothing blocks
    assert plan["status"] == "ok" and plan["killed_invocations"] == 0 and plan["first_overrun"] is None
    assert plan["duplicate_delivery_jobs"] == 0 and plan["worst_never_planned_fraction"] == 0
    assert result["notified_fraction"] == 1 and result["blocker"] is None
    # AND even if what an invocation hands on always came back as one batch, planning ends in
    # minutes, long before the last mail
    assert plan["worst_done_seconds"] is not None
    assert plan["done_seconds"] <= plan["worst_done_seconds"] < result["time_to_last_s"] / 10


@pytest.mark.parametrize("plan_batch", ["5", "1"])
@pytest.mark.parametrize("sqs_ms", ["17", "20", "24"])
def test_no_plan_invocation_is_killed_at_any_size(sm: ModuleType, plan_batch: str, sqs_ms: str) -> None:
    # GIVEN PlanJobs BatchSize 5 (the template) or 1, and a SendMessageBatch round trip of 17, 20
    # or 24 ms (around the model's 20 ms: the old 1 MB pages were killed on either side of it)
    model = sm.build_model(sm.parse_args(["--plan-batch", plan_batch, "--sqs-ms", sqs_ms]))
    # WHEN updates go to 1,000 .. 1,000,000 email subscribers and webhook endpoints
    results = [sm.channel(model, "email", n, 14) for n in (1_000, 100_000, 1_000_000)]
    results += [sm.channel(model, "webhook", n) for n in (1_000, 10_000, 100_000, 1_000_000)]
    # THEN every index page is shorter than the hand-off margin, so a job can always stop in time
    margin = model.deployment.continue_with_seconds_left
    assert all(r["planning"]["page_seconds_max"] < margin for r in results)
    # AND no plan invocation is killed, nothing is planned twice and everyone is notified
    for r in results:
        plan = r["planning"]
        assert plan["status"] == "ok" and plan["killed_invocations"] == 0, (r["channel"], r["subscribers"])
        assert plan["duplicate_delivery_jobs"] == 0 and r["notified_fraction"] == 1
        assert r["blocker"] is None


def test_a_timeout_under_the_hand_off_margin_is_reported_as_a_blocker(sm: ModuleType) -> None:
    # GIVEN a FanoutFunction Timeout of 15 s, under the 20 s hand-off margin
    # WHEN one update goes to 1,000 email subscribers
    result = email(sm, 1_000, 14, "--fanout-timeout", "15")
    # THEN every plan job would hand itself on unread for ever: the model says so instead of looping
    assert result["planning"]["stuck"] and result["planning"]["status"] == "fails"
    assert "hands itself on unread" in result["blocker"]


def model_timeout(sm: ModuleType) -> int:
    return int(sm.build_model(sm.parse_args([])).deployment.fanout_timeout)


class TimedIndex:
    """A shard's partitions in the model's pages; reading one moves the invocation's clock by its time."""

    def __init__(self, buckets: dict[str, list[Any]]) -> None:
        self.buckets = buckets
        self.now = 0.0
        self.reads = 0

    def subscribers_page(self, channel: str, bucket: str, shard: int,
                         start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        k = int(start["page"]) if start else 0
        page = self.buckets[bucket][k]
        self.reads += 1
        self.now += page.seconds
        items = [{"sk": f"{bucket}-{k}-{i}"} for i in range(page.items)]
        return items, {"page": k + 1} if page.more else None


def test_the_models_hand_off_is_where_planner_plan_shard_hands_off(sm: ModuleType) -> None:
    # GIVEN one shard of a 1,000,000-subscriber update (62,500) and the touched component's empty
    # partition, in the model's pages: PAGE_ITEMS items each (the real Query's Limit), each
    # shorter than the hand-off margin
    model = sm.build_model(sm.parse_args([]))
    d = model.deployment
    budget, margin = float(d.fanout_timeout), d.continue_with_seconds_left
    pages = sm.shard_pages(model, "email", 62_500)
    everyone = pages[:-model.components]
    assert d.page_items == PAGE_ITEMS and max(p.items for p in pages) == PAGE_ITEMS
    assert max(p.seconds for p in pages) < margin
    settings = Settings(table_name="t", fanout=FanoutSettings(plan_queue_url="plan", shards=16),
                        email=EmailSettings(queue_url="deliveries"))
    job = {"event_id": "upd:i1:1", "event_type": "incident.updated", "occurred_at": "2026-11-28T10:00:00.000Z",
           "component_ids": ["smtp"], "channel": "email", "shard": 0, "buckets": ["all", "c:smtp"]}
    buckets = {"all": everyone, "c:smtp": pages[len(everyone):]}

    def where(first: int) -> tuple[int, dict[str, Any] | None]:
        """The model's page index as plan_shard's (bucket_index, start)."""
        if first < len(everyone):
            return 0, {"page": first} if first else None
        return 1 + first - len(everyone), None

    # WHEN the real planner runs the shard's chain, each link alone in a fresh invocation whose
    # clock the model's page times move, and the model runs the same chain
    index, queues = TimedIndex(buckets), SentMessages()
    current: dict[str, Any] = job
    first, links = 0, 0
    while True:
        index.now, reads, handed_on = 0.0, index.reads, len(queues.sent.get("plan", []))
        Planner(None, index, settings, sqs=queues).plan_shard(current, lambda: budget - index.now)
        [part] = sm.run_invocation([(pages, first)], budget, margin, 0.0)
        links += 1
        # THEN each link reads as many pages as the model's and ends inside the Timeout
        assert part.outcome != "killed" and index.reads - reads == part.pages and index.now <= budget
        if part.outcome == "done":
            assert len(queues.sent.get("plan", [])) == handed_on
            break
        # AND hands on from the page where the model's link stopped
        continuation = queues.sent["plan"][-1]
        first += part.pages
        assert (continuation["bucket_index"], continuation["start"]) == where(first)
        current = continuation
    # AND the chain is the model's, and every subscriber of the shard is enqueued exactly once
    assert links == sm.channel(model, "email", 1_000_000, 14)["planning"]["chain_links"] >= 2
    subscribers = [j["subscriber_id"] for j in queues.sent["deliveries"]]
    assert len(subscribers) == len(set(subscribers)) == 62_500

    # WHEN five such jobs share one invocation (PlanJobs BatchSize 5), one after the other
    index, queues = TimedIndex(buckets), SentMessages()
    reads = []
    for _ in range(5):
        before = index.reads
        Planner(None, index, settings, sqs=queues).plan_shard(job, lambda: budget - index.now)
        reads.append(index.reads - before)
    parts = sm.run_invocation([(pages, 0)] * 5, budget, margin, 0.0)
    # THEN the first reads until fewer than 20 s are left and hands off, as the model says ...
    assert reads[0] == parts[0].pages > 0 and parts[0].outcome == "continued"
    # ... and each later one, starting with too little time, reads nothing and hands itself on
    # from the start: the invocation ends inside its Timeout and nothing is killed
    assert reads[1:] == [p.pages for p in parts[1:]] == [0, 0, 0, 0]
    assert all(p.outcome == "continued" for p in parts) and index.now <= budget
    assert [(c["bucket_index"], c["start"]) for c in queues.sent["plan"][1:]] == [(0, None)] * 4


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
    # WHEN MaximumConcurrency (and EMAIL_SENDER_CONCURRENCY with it) goes to 250
    raised = email(sm, 1_000_000, 3_000, "--email-concurrency", "250")
    # THEN the default is bound by the sender, not SES, and the raised one is far faster and SES-bound
    assert capped["bottleneck"].startswith("email sender")
    assert capped["throughput_per_s"] < 3_000
    assert "SES" in raised["bottleneck"]
    assert raised["time_to_last_s"] < capped["time_to_last_s"] / 10
    assert raised["blocker"] is None


def test_64_shards_end_planning_sooner_but_not_the_last_mail_while_the_sender_binds(sm: ModuleType) -> None:
    # GIVEN the template as deployed and a million subscribers at the template's sender rate
    sixteen = email(sm, 1_000_000, 200)
    # WHEN FANOUT_SHARDS goes from 16 to 64
    sixty_four = email(sm, 1_000_000, 200, "--shards", "64")
    # THEN the last delivery job is enqueued in about half the time (shards plan in parallel) ...
    assert sixty_four["planning"]["done_seconds"] < 0.6 * sixteen["planning"]["done_seconds"]
    # ... and the last mail leaves when it did: the 5 email containers, not planning, set it
    assert sixty_four["time_to_last_s"] == pytest.approx(sixteen["time_to_last_s"], abs=5)


def test_call_counts_follow_the_batch_arithmetic(sm: ModuleType) -> None:
    # GIVEN 100,000 email subscribers over the template's 16 shards
    model = sm.build_model(sm.parse_args([]))
    shards, n = model.deployment.shards, 100_000
    # WHEN the model counts the calls of one update
    result = sm.channel(model, "email", n, 14)
    # THEN planning sends ceil(shard / 10) batches per shard and one per hand-off (the fifth job
    # of each full batch of five runs short of time), and the sender runs in batches of 10
    handoffs = result["planning"]["continuations"]
    assert handoffs == shards // model.deployment.plan_batch
    assert result["sqs"]["SendMessageBatch"] == sum(math.ceil(s / 10) for s in sm.shard_sizes(n, shards)) + handoffs
    batches = result["lambda"]["sender_invocations"]
    assert batches == math.ceil(n / model.deployment.email_batch)
    # AND every mail costs one SendEmail and no DynamoDB call of its own: its subscriber read,
    # its event and its claim are its batch's three calls, and its outcome shares the batch's
    # group commit (one BatchWriteItem for the batch's 10 outcomes, at most 16 in flight)
    calls = result["dynamodb"]["calls"]
    assert result["ses_send_email"] == n
    assert (sum(calls.values()) - calls["Query"]) / n == pytest.approx(4 / model.deployment.email_batch)
    assert calls["UpdateItem"] == 0 and "PutItem" not in calls
    assert calls["BatchGetItem"] == calls["GetItem"] == calls["TransactWriteItems"] == batches
    assert calls["BatchWriteItem"] == batches and result["dynamodb"]["outcomes_per_batch_write"] == 10
    # AND each subscriber is read once (1 RRU, consistent) and the 6 KB event once a batch, not once a mail
    sender_rru = result["dynamodb"]["read_request_units"] - result["planning"]["read_request_units"]
    assert sender_rru == n + batches * math.ceil(model.event_bytes / 4096)
    # AND a mail writes 3 WRU: its claim's conditional Put in the transaction (2) and its outcome's Put (1)
    assert result["dynamodb"]["write_request_units"] / n == 3
    # AND the index is read in pages of PAGE_ITEMS (1 MB holds more), one query more per touched component
    assert PAGE_ITEMS * model.index_item_bytes["email"] < 1_000_000
    pages_per_shard = math.ceil(math.ceil(n / shards) / PAGE_ITEMS)
    assert result["dynamodb"]["calls"]["Query"] == shards * (pages_per_shard + model.components)


def test_webhook_batches_of_50_are_received_and_deleted_ten_messages_a_call(sm: ModuleType) -> None:
    # GIVEN 10,000 webhook endpoints and the sender's BatchSize of 50
    model = sm.build_model(sm.parse_args([]))
    # WHEN the model counts the webhook channel's SQS requests
    result = sm.channel(model, "webhook", 10_000)
    # THEN 200 invocations each take 5 receives and 5 deletes
    plan_invocations = math.ceil(model.deployment.shards / model.deployment.plan_batch)
    assert result["lambda"]["sender_invocations"] == 200
    assert result["sqs"]["ReceiveMessage"] == 200 * 5 + plan_invocations
    # AND each batch of 50 reads its endpoints in one BatchGetItem, its event once and claims all
    # 50 in one transaction; each delivery's log entry, which ends its claim, is group-committed
    # 25 to a BatchWriteItem (32 in flight: the upper bound), so 2 a batch
    calls = result["dynamodb"]["calls"]
    assert calls["BatchGetItem"] == calls["GetItem"] == calls["TransactWriteItems"] == 200
    assert calls["BatchWriteItem"] == 400 and calls["UpdateItem"] == 0 and "PutItem" not in calls
    assert result["dynamodb"]["write_request_units"] == (2 + 1) * 10_000


def test_a_batch_over_a_hundred_is_read_and_claimed_in_calls_of_a_hundred_before_it_sends(sm: ModuleType) -> None:
    # GIVEN webhook batches of 50, and the same with batches of 250 (over BatchGetItem's and a
    # transaction's 100 items)
    model = sm.build_model(sm.parse_args([]))
    big = dataclasses.replace(model, deployment=dataclasses.replace(model.deployment, webhook_batch=250))
    assert model.deployment.transaction_items == 100
    # WHEN both send to 10,000 endpoints
    fifty, two_fifty = sm.channel(model, "webhook", 10_000), sm.channel(big, "webhook", 10_000)
    # THEN a batch of 250 takes 3 BatchGetItems and 3 transactions, but still reads its event once
    calls = two_fifty["dynamodb"]["calls"]
    assert calls["GetItem"] == 40 and calls["BatchGetItem"] == calls["TransactWriteItems"] == 3 * 40
    # AND the units do not depend on how the batch is cut
    assert two_fifty["dynamodb"]["write_request_units"] == fifty["dynamodb"]["write_request_units"]


def test_a_duplicate_delivery_job_is_refused_at_its_claim_and_sends_nothing(sm: ModuleType) -> None:
    # GIVEN a SendMessageBatch round trip of 300 ms: index pages outlast the hand-off margin,
    # plan invocations time out and their jobs are planned again
    model = sm.build_model(sm.parse_args(["--sqs-ms", "300"]))
    # WHEN one update goes to 100,000 email subscribers
    result = sm.channel(model, "email", 100_000, 14)
    dupes = result["planning"]["duplicate_delivery_jobs"]
    assert dupes > 0
    # THEN each duplicate costs a claim transaction (cancelled) and a refused claim of its own,
    # read back, but no SendEmail
    calls = result["dynamodb"]["calls"]
    batches = result["lambda"]["sender_invocations"]
    assert result["ses_send_email"] == 100_000
    assert calls["UpdateItem"] == dupes
    assert calls["GetItem"] == batches + dupes
    assert calls["BatchWriteItem"] == math.ceil(100_000 / 10)  # outcomes only of the mails sent
    assert calls["TransactWriteItems"] == batches == math.ceil(100_000 / 10) + math.ceil(dupes / 10)
    assert result["dynamodb"]["write_request_units"] == 3 * (100_000 + dupes)


def test_the_cost_of_a_million_mails_is_mostly_ses_at_its_dated_list_price(sm: ModuleType) -> None:
    # GIVEN the prices written down with their date
    assert sm.PRICES_DATE and sm.PRICES["ses_per_thousand_emails"] == 0.10
    # WHEN one update goes to 1,000,000 subscribers at 14/s
    result = email(sm, 1_000_000, 14)
    # THEN SES is $100 of it and everything else together is a few dollars
    assert result["usd"]["ses"] == pytest.approx(100)
    assert 0 < result["usd_total"] - result["usd"]["ses"] < 10


def test_a_delivery_waits_for_its_group_commit_at_most_the_window_and_fewer_outcomes_a_call_cost_cpu(
        sm: ModuleType) -> None:
    # GIVEN the commit's window and batch as delivery.commits defines them
    from status_fanout.delivery.commits import BATCH_WRITE_ITEMS, WINDOW_SECONDS
    model = sm.build_model(sm.parse_args([]))
    assert (model.deployment.commit_items, model.deployment.commit_window) == (BATCH_WRITE_ITEMS, WINDOW_SECONDS)
    # WHEN 10,000 webhooks go out with outcomes committed 25 a call (the upper bound) and one a call
    grouped = sm.channel(model, "webhook", 10_000)
    alone = sm.channel(sm.build_model(sm.parse_args(["--commit-items", "1"])), "webhook", 10_000)
    # THEN a delivery's wait for its commit is the window plus one call
    assert grouped["dynamodb"]["commit_wait_s_max"] == pytest.approx(WINDOW_SECONDS + model.latency.ddb_item)
    # AND one outcome a call makes a BatchWriteItem per delivery, the same units, and a slower container
    assert alone["dynamodb"]["calls"]["BatchWriteItem"] == 10_000
    assert alone["dynamodb"]["write_request_units"] == grouped["dynamodb"]["write_request_units"]
    assert alone["container_rate_per_s"] < grouped["container_rate_per_s"]
