"""scale_model: what one notifying update costs on AWS, and how long it takes
to reach its last email subscriber and its last webhook endpoint, at 1,000,
100,000 and 1,000,000 subscribers. A model: no emulator, no AWS account, a
second or two of CPU.

What it counts is what the code does, call by call (docs/scaling.md lists
them): the stream side's snapshot (3 queries, 1 put) and plan jobs; one plan
job per (channel, shard) paging the shard's index partition (pages of
subscriber_index.PAGE_ITEMS items, or 1 MB) and sending SendMessageBatch calls
of 10, handing the rest of its shard on as a continuation job when, before a
page (the first included), fewer than CONTINUE_WITH_SECONDS_LEFT seconds of its
invocation are left (`Planner.plan_shard`), up to BatchSize jobs one after the
other in one invocation; per sender batch one BatchGetItem of its subscribers
(email) or endpoints (webhooks), one GetItem of its event and one
TransactWriteItems of conditional Puts claiming all its deliveries
(`delivery.claims.claim_all`), three round trips before any send starts; then
per email SES SendEmail, per webhook the POST, and per delivery its outcome,
the whole item, handed to the batch's group commit (`delivery.commits`), which
writes up to 25 outcomes per BatchWriteItem; the worker waits for that commit
(at most the commit window, plus the call) before its next job. A duplicate
delivery job costs a cancelled transaction, then a conditional UpdateItem and
a GetItem of its own. Sizes and knobs are read, not copied:
FANOUT_SHARDS, batch sizes, MaximumConcurrency, timeouts, memory and the plan
queue's visibility timeout and maxReceiveCount from template.yaml, the hand-off
margin from planner.py, the page size from subscriber_index.py, the claim
transaction's size from claims.py, the commit's batch and window from
commits.py; the index item
size from `subscriber_index.index_writes` (as bench/fanout_cost_email.py
builds its items), sized by DynamoDB's item-size rules; the webhook sender's
CPU per delivery and the handlers' import time from docs/benchmarks.md.

The benchmarks ran against an emulator, so AWS latencies are assumptions
(`Latency`, named and commented) and CPU figures are calibrations measured
in-process on the dev VM (`Cpu`). Time to the last notification includes the
SQS event source's ramp (5 concurrent batches, then up to +300 a minute).
Prices are us-east-1 list prices, dated in PRICES_DATE.

One JSON line per figure; `--markdown` prints the tables of docs/scaling.md.

Usage: .venv/bin/python bench/scale_model.py [--ses-rates 14,200,1000,3000]
       [--email 1000,100000,1000000] [--webhooks 1000,10000,100000]
       [--shards N] [--plan-batch N] [--email-concurrency N] [--memory MB] [--sqs-ms MS]
       [--commit-items N] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# --- prices -------------------------------------------------------------------
# us-east-1 list prices, no free tier, no Savings Plans; from the public pricing
# pages (aws.amazon.com/{dynamodb,sqs,lambda,ses,secrets-manager,cloudwatch,xray}/pricing)
# as recorded on this date. Data transfer is not counted (docs/scaling.md states it).
PRICES_DATE = "2026-11-28"
PRICES = {
    "dynamodb_on_demand_per_million_read_request_units": 0.125,  # halved on 2024-11-01
    "dynamodb_on_demand_per_million_write_request_units": 0.625,
    "sqs_standard_per_million_requests": 0.40,  # each 64 KB of payload is one request
    "lambda_arm64_per_gb_second": 0.0000133334,  # first 7.5 billion GB-s a month
    "lambda_per_million_requests": 0.20,
    "ses_per_thousand_emails": 0.10,
    "secrets_manager_per_10k_api_calls": 0.05,
    "cloudwatch_logs_ingested_per_gb": 0.50,
    "xray_per_million_traces_recorded": 5.00,
}

# --- AWS behaviour (documented) -----------------------------------------------
# SQS event source scaling: "Lambda starts processing five batches at a time with
# five concurrent invocations ... increases the number of processes that are
# reading batches by up to 300 more instances per minute" (Lambda Developer
# Guide, https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html;
# the rate went from 60 to 300 a minute in November 2023, AWS Compute Blog
# "Introducing faster polling scale-up for AWS Lambda functions configured with
# Amazon SQS"). The ceiling without MaximumConcurrency is 1,250 concurrent
# executions for a standard queue (AWS re:Post knowledge center "lambda-sqs-scaling";
# older Developer Guide copies say 1,000 batches). 1,250 is that ceiling, not a
# per-minute rate.
ESM_INITIAL_CONCURRENCY = 5
ESM_RAMP_PER_MINUTE = 300
ESM_MAX_CONCURRENCY = 1250
ACCOUNT_CONCURRENCY = 1000  # default regional quota; new accounts can start lower
VCPU_MB = 1769  # "At 1,769 MB, a function has the equivalent of one vCPU" (Lambda Developer Guide)
QUERY_PAGE_BYTES = 1_000_000  # a Query page stops at 1 MB (the floor in bench/fanout_cost_email.py) ...
READ_UNIT_BYTES = 4096  # 1 RRU per 4 KB strongly consistent, 0.5 eventually consistent
WRITE_UNIT_BYTES = 1024
SQS_RECEIVE_MAX = 10  # ReceiveMessage returns at most 10 messages
LOG_BYTES_PER_INVOCATION = 1500  # START/END/REPORT lines + one Powertools EMF metrics line
XRAY_RESERVOIR_PER_S, XRAY_RATE = 1, 0.05  # default sampling rule (Tracing: Active in template.yaml)
# "Initial throughput for on-demand capacity mode": a new on-demand table serves up
# to 4,000 writes/s and 12,000 reads/s at once, more after it has seen more
# (DynamoDB Developer Guide); warm throughput can raise it ahead of time.
NEW_TABLE_WRU_PER_S, NEW_TABLE_RRU_PER_S = 4000, 12000
BATCH_GET_KEYS = 100  # BatchGetItem reads at most 100 keys a call (Store.get_many splits there)
TRANSACTION_WRITE_UNITS = 2  # a transactional write costs 2 WRU per 1 KB item (prepare + commit)
# A BatchWriteItem Put costs what a PutItem does: 1 WRU per 1 KB item. A delivery's outcome
# item (its key, status, the claim's attributes; webhooks: the delivery-log entry) is taken as < 1 KB.
BATCH_WRITE_UNITS = 1

# Fallbacks for the figures read from docs/benchmarks.md at run time.
WEBHOOK_ENGINE_PER_S = 143.8  # webhook_throughput, "sender HTTP engine", receiver answers at once
HANDLER_IMPORT_MS = 488  # cold_start, api handler on the quiet machine


@dataclass(frozen=True)
class Latency:
    """AWS-side wall time per call, in seconds: assumptions, not measurements.

    The benchmarks ran against moto inside one process (~50-60 ms a DynamoDB
    call, docs/benchmarks.md), which says nothing about AWS; these are the
    usual in-region figures."""

    ddb_item: float = 0.006  # GetItem/PutItem/UpdateItem: "single-digit milliseconds"
    # A sender batch's BatchGetItem and the group commit's BatchWriteItem are taken as one
    # ddb_item each: their items are served in parallel.
    # The claims' TransactWriteItems has two phases (prepare, commit) over up to 100 items,
    # conditional Puts: taken as two single-item writes. An assumption, not a published figure.
    ddb_transaction: float = 0.012
    ddb_query: float = 0.010  # a Query round trip, plus ddb_per_mb for what it returns
    ddb_per_mb: float = 0.050
    sqs_call: float = 0.020  # SendMessageBatch; SQS docs: "tens or low hundreds of ms"; docs/fan-out.md's ~20 ms
    ses_send: float = 0.060  # SES v2 SendEmail of a ~5 KB raw message
    webhook_receiver: float = 0.200  # a new TLS connection to a partner plus its answer; --receiver-ms
    dns: float = 0.005  # the SSRF guard resolves the host before every attempt
    stream_window: float = 1.0  # MaximumBatchingWindowInSeconds: 1 on the table stream
    esm_pickup: float = 0.1  # a long poll returning a message that just arrived
    esm_batch: float = 0.05  # the event source's receive, invoke and delete around one batch
    # A continuation job is one message, sent while its sender's invocation may still be
    # busy with the rest of its batch: assumed received alone (a waiting long poll returns
    # it within esm_pickup) and run by another container, cold. So esm_pickup + esm_batch
    # + one cold start (~2 s at 512 MB) pass between two links of a shard's chain.


@dataclass(frozen=True)
class Cpu:
    """CPU seconds on one vCPU (one core of the dev VM taken as one Lambda vCPU).

    Measured in-process on the dev VM on 2026-11-28 (docs/benchmarks.md, "Scale
    model"), except where a benchmark is named."""

    aws_call: float = 0.0032  # botocore serialise + SigV4 + parse: SendMessageBatch of 10 / GetItem vs a stub server
    # On top of aws_call, per item of the senders' batch calls, from the same stub server with 10 and
    # 50 items (the slope; the intercept is aws_call's 3.3 ms): a ~700 B subscriber item a
    # BatchGetItem returns, a conditional claim a TransactWriteItems carries (measured as an
    # UpdateItem; the claim is now a conditional Put of the whole item, taken as the same).
    batch_get_item: float = 0.00017
    transact_item: float = 0.00027
    # An outcome item a BatchWriteItem carries: not measured, taken as a transaction item's.
    batch_write_item: float = 0.00027
    plan_per_subscriber: float = 0.000060  # Query parse ~36 us + from_item, id, job JSON ~31 us; JSON parsed once
    email_mime: float = 0.0046  # email_messages.update_message, 5-update incident, 4.6 KB of MIME
    email_other: float = 0.001  # job JSON, tokens (2 HMACs), pydantic subscriber
    webhook_engine: float = 1 / WEBHOOK_ENGINE_PER_S  # SSRF check, signing, JSON, POST (benchmarks.md)
    webhook_tls: float = 0.002  # a TLS handshake per endpoint (10,000 endpoints: no pooling across them)
    handler_import: float = HANDLER_IMPORT_MS / 1000  # benchmarks.md cold_start; ~0.15 s of runtime start added


@dataclass(frozen=True)
class Deployment:
    """The knobs, read from template.yaml and the code; CLI flags override them."""

    shards: int
    memory_mb: int
    fanout_timeout: int
    plan_batch: int
    plan_visibility_timeout: int  # PlanQueue VisibilityTimeout: when a timed-out batch's jobs come back
    plan_max_receives: int  # PlanQueue maxReceiveCount: then SQS moves the job to PlanDeadLetterQueue
    continue_with_seconds_left: float  # fanout.CONTINUE_WITH_SECONDS_LEFT, checked before every index page
    page_items: int  # subscriber_index.PAGE_ITEMS: the Limit of every index Query
    plan_max_concurrency: int | None
    webhook_batch: int
    webhook_max_concurrency: int | None
    webhook_reserved: int | None
    webhook_timeout: int
    email_batch: int
    email_max_concurrency: int | None
    email_reserved: int | None
    email_timeout: int
    email_sender_concurrency: int  # EMAIL_SENDER_CONCURRENCY: the token bucket's divisor
    email_max_send_rate_fallback: float
    sqs_batch: int  # fanout.SQS_BATCH
    webhook_in_flight: int  # webhook_sender.MAX_IN_FLIGHT
    email_in_flight: int  # email_sender.MAX_IN_FLIGHT
    transaction_items: int  # delivery.claims.TRANSACTION_ITEMS: claims per TransactWriteItems
    commit_items: int  # delivery.commits.BATCH_WRITE_ITEMS: outcomes per BatchWriteItem, at most
    commit_window: float  # delivery.commits.WINDOW_SECONDS: the longest a commit waits for more outcomes
    # Outcomes per BatchWriteItem as modelled; None: min(commit_items, the batch's workers), an
    # upper bound (see `commit_batch`). --commit-items sets it (1: every outcome alone).
    commit_items_modelled: int | None = None
    account_concurrency: int = ACCOUNT_CONCURRENCY

    @property
    def vcpu(self) -> float:
        return self.memory_mb / VCPU_MB

    @property
    def gb(self) -> float:
        return self.memory_mb / 1024


def read_deployment(template: Path) -> Deployment:
    from status_fanout.delivery.claims import TRANSACTION_ITEMS
    from status_fanout.delivery.commits import BATCH_WRITE_ITEMS, WINDOW_SECONDS
    from status_fanout.delivery.planner import CONTINUE_WITH_SECONDS_LEFT, SQS_BATCH
    from status_fanout.delivery.subscriber_index import PAGE_ITEMS
    from status_fanout.email.channel import MAX_IN_FLIGHT as EMAIL_IN_FLIGHT
    from status_fanout.webhooks.channel import MAX_IN_FLIGHT as WEBHOOK_IN_FLIGHT
    from status_fanout_local.template import load_template

    doc = load_template(template)
    glob = doc["Globals"]["Function"]
    env = glob["Environment"]["Variables"]
    res = doc["Resources"]

    def props(name: str) -> dict[str, Any]:
        return dict(res[name]["Properties"])

    def event(name: str, source: str) -> dict[str, Any]:
        return dict(props(name)["Events"][source]["Properties"])

    def max_concurrency(ev: Mapping[str, Any]) -> int | None:
        value = (ev.get("ScalingConfig") or {}).get("MaximumConcurrency")
        return int(value) if value is not None else None

    def reserved(name: str) -> int | None:
        value = props(name).get("ReservedConcurrentExecutions")
        return int(value) if value is not None else None

    def timeout(name: str) -> int:
        return int(props(name).get("Timeout", glob["Timeout"]))

    email_env = props("EmailSenderFunction")["Environment"]["Variables"]
    plan_queue = props("PlanQueue")
    plan, wh, em = (event("FanoutFunction", "PlanJobs"), event("WebhookSenderFunction", "Deliveries"),
                    event("EmailSenderFunction", "EmailJobs"))
    return Deployment(
        shards=int(env["FANOUT_SHARDS"]), memory_mb=int(glob["MemorySize"]),
        fanout_timeout=timeout("FanoutFunction"),
        plan_batch=int(plan.get("BatchSize", 10)), plan_max_concurrency=max_concurrency(plan),
        plan_visibility_timeout=int(plan_queue.get("VisibilityTimeout", 30)),
        plan_max_receives=int((plan_queue.get("RedrivePolicy") or {}).get("maxReceiveCount", 0)),
        continue_with_seconds_left=float(CONTINUE_WITH_SECONDS_LEFT), page_items=int(PAGE_ITEMS),
        webhook_batch=int(wh.get("BatchSize", 10)), webhook_max_concurrency=max_concurrency(wh),
        webhook_reserved=reserved("WebhookSenderFunction"), webhook_timeout=timeout("WebhookSenderFunction"),
        email_batch=int(em.get("BatchSize", 10)), email_max_concurrency=max_concurrency(em),
        email_reserved=reserved("EmailSenderFunction"), email_timeout=timeout("EmailSenderFunction"),
        email_sender_concurrency=int(email_env["EMAIL_SENDER_CONCURRENCY"]),
        email_max_send_rate_fallback=float(email_env["EMAIL_MAX_SEND_RATE"]),
        sqs_batch=SQS_BATCH, webhook_in_flight=WEBHOOK_IN_FLIGHT, email_in_flight=EMAIL_IN_FLIGHT,
        transaction_items=int(TRANSACTION_ITEMS), commit_items=int(BATCH_WRITE_ITEMS),
        commit_window=float(WINDOW_SECONDS),
    )


def read_benchmarks(path: Path) -> dict[str, Any]:
    """The measured figures the model uses, from docs/benchmarks.md when its tables hold them."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    engine = re.search(r"\|\s*answers at once\s*\|[^|]*\|\s*([\d.]+)\s*/s\s*\|", text)
    imported = re.search(r"\|\s*api\s*\|\s*(\d+)\s*ms", text)
    return {
        "webhook_engine_per_s": float(engine.group(1)) if engine else WEBHOOK_ENGINE_PER_S,
        "webhook_engine_source": "docs/benchmarks.md webhook_throughput" if engine else "constant",
        "handler_import_ms": int(imported.group(1)) if imported else HANDLER_IMPORT_MS,
        "handler_import_source": "docs/benchmarks.md cold_start" if imported else "constant",
    }


# --- DynamoDB item sizes ----------------------------------------------------------

def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value by DynamoDB's item-size rules."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        digits = len(str(data).lstrip("-").replace(".", "").strip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in data.items())
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in data)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def index_item(channel: str, shards: int, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """One index item of a subscriber of everything, exactly as the stores write it."""
    from status_fanout.delivery.subscriber_index import index_keys, index_writes
    from status_fanout.incidents.lifecycle import new_id

    (entry,) = index_writes("StatusTable", channel, set(), index_keys(channel, new_id(), [], shards), attributes)
    return dict(entry["Put"]["Item"])


def read_units(nbytes: int, consistent: bool) -> float:
    units = max(1, math.ceil(nbytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


# --- the model --------------------------------------------------------------------

@dataclass(frozen=True)
class Model:
    deployment: Deployment
    latency: Latency = Latency()
    cpu: Cpu = Cpu()
    event_bytes: int = 6 * 1024  # the event snapshot: 4.0 KB for a 5-update incident, ~0.5 KB more per update
    subscriber_bytes: int = 700  # the email subscriber / webhook endpoint item, one per delivery in its batch's read
    components: int = 1  # components the update touches: one more (empty) index partition each
    index_item_bytes: Mapping[str, int] = field(default_factory=dict)

    @property
    def cold_start(self) -> float:
        """Init of one container: runtime start plus the handler's import at this memory's CPU share."""
        return 0.15 + self.cpu.handler_import / min(1.0, self.deployment.vcpu)

    def cpu_s(self, seconds_on_one_vcpu: float) -> float:
        return seconds_on_one_vcpu / min(1.0, self.deployment.vcpu)


def shard_sizes(n: int, shards: int) -> list[int]:
    return [n // shards + (1 if s < n % shards else 0) for s in range(shards)]


@dataclass(frozen=True)
class Page:
    """One index Query page as `Planner.plan_shard` handles it: read, then its delivery jobs
    sent in SendMessageBatch calls of 10, one after the other."""

    seconds: float
    items: int
    more: bool  # the Query returns a LastEvaluatedKey: the partition has (or may have) more


@dataclass(frozen=True)
class Part:
    """What one plan job did in one invocation."""

    first_page: int
    pages: int  # pages read to their end
    items: int  # delivery jobs enqueued, with those of a page cut short by the timeout
    started: float  # seconds into the invocation
    ended: float
    outcome: str  # "done", "continued" (handed the rest on, maybe all of it), "killed" (the Timeout), "not run"


def page_items(model: Model, channel: str) -> int:
    """Items in one index Query page: the planner's Limit (PAGE_ITEMS), or fewer if 1 MB comes first."""
    return max(1, min(model.deployment.page_items, QUERY_PAGE_BYTES // model.index_item_bytes[channel]))


def shard_pages(model: Model, channel: str, size: int) -> list[Page]:
    """The Query pages of one shard's plan job: its `all` partition in pages of `page_items`,
    then one empty page per touched component's partition (subscribers of everything are not
    in it). A Query that stops at its Limit returns a LastEvaluatedKey even when nothing is
    left, so a partition of exactly k full pages takes one more, empty, Query."""
    d, lat = model.deployment, model.latency
    item = model.index_item_bytes[channel]
    per_page = page_items(model, channel)
    count = max(1, math.ceil(size / per_page) + int(size > 0 and size % per_page == 0))
    call = model.cpu_s(model.cpu.aws_call)
    pages = []
    for p in range(count):
        items = max(0, min(per_page, size - p * per_page))
        pages.append(Page(lat.ddb_query + call + items * item / 1e6 * lat.ddb_per_mb
                          + items / d.sqs_batch * (lat.sqs_call + call)
                          + items * model.cpu_s(model.cpu.plan_per_subscriber), items, more=p + 1 < count))
    return pages + [Page(lat.ddb_query + call, 0, more=False)] * model.components


def run_invocation(jobs: Sequence[tuple[Sequence[Page], int]], budget: float, margin: float,
                   handoff: float) -> list[Part]:
    """Plan jobs (pages, first page) run one after the other in one invocation, as the
    BatchProcessor and `Planner.plan_shard` run them: before every page, the first one
    included, a job with fewer than `margin` seconds of the invocation left sends the rest
    on as a continuation job (`handoff` s) and returns; so a job that starts with less
    reads nothing and hands itself on whole. A page that would end past `budget` (the
    Timeout) kills the invocation: its later jobs never run, and none is deleted. That
    takes a page longer than `margin`, which PAGE_ITEMS rules out at the model's figures."""
    t = 0.0
    parts: list[Part] = []
    killed = False
    for pages, first in jobs:
        if killed:
            parts.append(Part(first, 0, 0, t, t, "not run"))
            continue
        started, read, items, outcome = t, 0, 0, "done"
        for page in pages[first:]:
            if budget - t < margin:
                t, outcome = t + handoff, "continued"
                break
            if t + page.seconds > budget:
                items += int(page.items * (budget - t) / page.seconds)
                t, outcome, killed = budget, "killed", True
                break
            t, read, items = t + page.seconds, read + 1, items + page.items
        parts.append(Part(first, read, items, started, t, outcome))
    return parts


def plan_channel(model: Model, channel: str, n: int, ramp: float = 0.0) -> dict[str, Any]:
    """The plan jobs of one channel, one per shard, simulated invocation by invocation.

    The first receive hands out the channel's jobs BatchSize at a time, in the order the
    stream side sent them (the worst case: SendMessageBatch puts 10 on the queue at once).
    A continuation runs alone (Latency's note), whether its job had read part of its shard
    or, starting with too little time left, none of it. That is the optimistic end; the
    pessimistic one, where what an invocation hands on comes back as one batch every time,
    is `worst_done_seconds`. A job a timed-out invocation returns (only with a page longer
    than the hand-off margin) runs alone after the plan queue's visibility timeout: a
    timeout skips app.py's 2 s retry backoff; the worst case there, where the same jobs
    share a batch on every receive until SQS dead-letters them, is `worst_never_planned`.
    Times are seconds after the first plan job is picked up."""
    d, lat = model.deployment, model.latency
    item = model.index_item_bytes[channel]
    budget, margin = float(d.fanout_timeout), d.continue_with_seconds_left
    handoff = lat.sqs_call + model.cpu_s(model.cpu.aws_call)
    pickup = lat.esm_pickup + lat.esm_batch + model.cold_start
    sizes = shard_sizes(n, d.shards)
    shards = [shard_pages(model, channel, size) for size in sizes]
    invocations: list[tuple[float, float, str]] = []  # start, end, "ok" or "killed"
    count = {"queries": 0, "pages": 0, "sends": 0, "continuations": 0, "unread_handoffs": 0, "duplicates": 0,
             "never_planned": 0, "worst_never_planned": 0, "overruns": 0, "stuck": 0}
    rru = 0.0
    first_overrun: dict[str, Any] | None = None

    def account(part: Part, pages: Sequence[Page]) -> None:
        nonlocal rru
        read = pages[part.first_page:part.first_page + part.pages + (part.outcome == "killed")]
        count["queries"] += len(read)
        count["pages"] += sum(1 for p in read if p.items)
        rru += sum(read_units(p.items * item, consistent=False) for p in read)
        # A partial batch is flushed at the end and before a hand-off; the hand-off is one more call.
        count["sends"] += math.ceil(part.items / d.sqs_batch) + (part.outcome == "continued")
        count["continuations"] += part.outcome == "continued"
        count["unread_handoffs"] += part.outcome == "continued" and not part.pages

    def chain(pages: Sequence[Page], first: int, at: float, received: int = 0) -> float:
        """Links of one shard run alone from `at`; when its last delivery job is on the queue.
        `received`: how often the first link's message has been received already."""
        while True:
            [part] = run_invocation([(pages, first)], budget, margin, handoff)
            account(part, pages)
            invocations.append((at, at + part.ended, "killed" if part.outcome == "killed" else "ok"))
            if part.outcome == "continued" and not part.pages:
                # Alone and handing itself on unread (a Timeout not above the margin): it
                # would re-queue itself for ever, a new message each time, never dead-lettered.
                count["stuck"] += 1
                count["never_planned"] += sum(p.items for p in pages[first:])
                return at + part.ended
            if part.outcome == "continued":
                first, at, received = first + part.pages, at + part.ended + pickup, 0
                continue
            if part.outcome == "killed":
                # Alone and still too long: every retry stops at the same page, and after
                # maxReceiveCount receives SQS dead-letters the rest of the shard.
                count["never_planned"] += sum(p.items for p in pages[first:]) - part.items
                retries = max(0, d.plan_max_receives - received - 1)
                count["duplicates"] += retries * part.items
                for retry in range(1, retries + 1):
                    back = at + retry * d.plan_visibility_timeout
                    invocations.append((back, back + budget, "killed"))
            return at + part.ended

    def together(group: Sequence[int]) -> float | None:
        """The pessimistic end of the hand-offs: what an invocation hands on comes back as one
        batch, in the order it was sent, so each time only the jobs at its head read anything.
        None when an invocation is killed or nothing moves (the other figures cover those)."""
        jobs, at, end = [(i, 0) for i in group], ramp, ramp
        while jobs:
            parts = run_invocation([(shards[i], f) for i, f in jobs], budget, margin, handoff)
            if any(part.outcome == "killed" for part in parts) or not any(part.pages for part in parts):
                return None
            end = at + parts[-1].ended
            jobs = [(i, f + part.pages) for (i, f), part in zip(jobs, parts, strict=True)
                    if part.outcome == "continued"]
            at = end + pickup
        return end

    done, worst_done = 0.0, 0.0
    for g in range(0, len(shards), d.plan_batch):
        group = list(range(g, min(g + d.plan_batch, len(shards))))
        slowest = together(group)
        worst_done = max(worst_done, slowest if slowest is not None else math.inf)
        parts = run_invocation([(shards[i], 0) for i in group], budget, margin, handoff)
        killed = any(part.outcome == "killed" for part in parts)
        invocations.append((ramp, ramp + parts[-1].ended if not killed else ramp + budget,
                            "killed" if killed else "ok"))
        for i, part in zip(group, parts, strict=True):
            account(part, shards[i])
            if part.outcome == "continued":
                done = max(done, chain(shards[i], part.pages, ramp + part.ended + pickup))
            elif part.outcome == "done":
                done = max(done, ramp + part.ended)
        if not killed:
            continue
        count["overruns"] += 1
        victim = next(k for k, part in enumerate(parts) if part.outcome == "killed")
        if first_overrun is None:
            page = shards[group[victim]][parts[victim].first_page + parts[victim].pages]
            first_overrun = {"job_in_batch": victim + 1, "seconds_left": budget - parts[victim].started,
                             "page_seconds": page.seconds}
        back = ramp + d.plan_visibility_timeout
        for k, (i, part) in enumerate(zip(group, parts, strict=True)):
            # Every job of the batch is planned again from its start: what ran before the
            # timeout (a finished job, or a continued one whose chain went on) is enqueued twice.
            count["duplicates"] += sizes[i] if part.outcome in ("done", "continued") else part.items
            if k >= victim:
                count["worst_never_planned"] += sizes[i] - part.items
            done = max(done, chain(shards[i], 0, back, received=1))

    # Shard 0 is the biggest; its chain run alone, link by link, is what the hand-off guarantees.
    links, first, chain_seconds, longest = 0, 0, 0.0, 0.0
    while True:
        [part] = run_invocation([(shards[0], first)], budget, margin, handoff)
        links, longest, chain_seconds = links + 1, max(longest, part.ended), chain_seconds + part.ended
        if part.outcome != "continued" or not part.pages:
            break
        first, chain_seconds = first + part.pages, chain_seconds + pickup
    killed_alone = part.outcome == "killed" or count["never_planned"] > 0 or count["stuck"] > 0
    status = "fails" if killed_alone else "at risk" if count["overruns"] else "ok"
    edges = sorted([(s, 1) for s, _, _ in invocations] + [(e, -1) for _, e, _ in invocations])
    peak = running = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return {
        "jobs": d.shards, "queries": count["queries"], "pages_with_items": count["pages"],
        "pages_per_shard": sum(1 for p in shards[0] if p.items) or 1,
        "page_seconds_max": max(p.seconds for p in shards[0]),
        "send_message_batch": count["sends"], "continuations": count["continuations"],
        "unread_handoffs": count["unread_handoffs"], "stuck": count["stuck"] > 0,
        "read_request_units": rru,
        "invocations": len(invocations), "killed_invocations": sum(1 for *_, o in invocations if o == "killed"),
        "invocation_seconds_total": sum(e - s for s, e, _ in invocations),
        "peak_concurrency": peak,
        "chain_links": links, "chain_seconds": chain_seconds, "longest_invocation_seconds": longest,
        "job_seconds_max": sum(p.seconds for p in shards[0]),  # one shard read in one go, no hand-off
        "done_seconds": done, "status": status,
        "worst_done_seconds": worst_done if math.isfinite(worst_done) else None,
        "overrun_invocations": count["overruns"], "first_overrun": first_overrun,
        "duplicate_delivery_jobs": count["duplicates"],
        "never_planned_fraction": count["never_planned"] / n if n else 0.0,
        "worst_never_planned_fraction": (count["never_planned"] + count["worst_never_planned"]) / n if n else 0.0,
    }


def drain_seconds(n: int, per_container: float, cap: int) -> float:
    """Time for the event source to work off n jobs while it ramps from 5 to `cap` containers."""
    start = min(ESM_INITIAL_CONCURRENCY, cap)
    ramp = ESM_RAMP_PER_MINUTE / 60
    t_ramp = (cap - start) / ramp
    done_in_ramp = per_container * (start * t_ramp + ramp * t_ramp ** 2 / 2)
    if n <= done_in_ramp:
        # per_container * (start t + ramp t^2 / 2) = n
        a, b, c = per_container * ramp / 2, per_container * start, -n
        return (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a) if a else n / b
    return t_ramp + (n - done_in_ramp) / (per_container * cap)


def sender_capacity(model: Model, batch: int, in_flight: int, io: float, cpu: float,
                    prefix: float = 0.0) -> tuple[float, float, str]:
    """(jobs/s of one container, seconds one batch takes, what bounds it): the batch's prefix
    (its reads and claim, `prefix` s with their CPU) runs first and alone; then the deliveries'
    CPU shares one Python process (one GIL), their I/O overlaps `in_flight` at a time."""
    cpu_batch = batch * model.cpu_s(cpu)
    io_batch = math.ceil(batch / in_flight) * (io + model.cpu_s(cpu))
    seconds = prefix + max(cpu_batch, io_batch) + model.latency.esm_batch
    return batch / seconds, seconds, "cpu" if cpu_batch >= io_batch else "io"


def batch_calls(n: int, batch: int, per_call: int) -> int:
    """Calls of at most `per_call` items that n deliveries in SQS batches of `batch` make, one batch at a time."""
    return n // batch * math.ceil(batch / per_call) + math.ceil(n % batch / per_call)


def commit_batch(d: Deployment, batch: int, in_flight: int) -> int:
    """Outcomes per BatchWriteItem of the group commit. A commit holds at most BATCH_WRITE_ITEMS
    and at most what the batch's workers (min(in flight, batch)) have in hand, since each waits
    for its own commit before its next job: min(25, workers) is an upper bound, reached when
    the workers finish together (flushed when every busy worker waits). Workers that finish
    apart, more than the 20 ms window from each other (paced by the SES token bucket, or one
    after the other on the GIL), commit fewer at a time, down to one: --commit-items 1."""
    if d.commit_items_modelled is not None:
        return max(1, min(d.commit_items, d.commit_items_modelled))
    return max(1, min(d.commit_items, in_flight, batch))


def concurrency_cap(d: Deployment, maximum: int | None, reserved: int | None) -> int:
    caps = [ESM_MAX_CONCURRENCY, d.account_concurrency]
    caps += [c for c in (maximum, reserved) if c is not None]
    return min(caps)


def costs(rru: float, wru: float, sqs: int, invocations: int, gb_seconds: float, emails: int = 0,
          secrets: int = 0, busy_seconds: float = 0.0) -> dict[str, float]:
    traces = min(invocations, busy_seconds * XRAY_RESERVOIR_PER_S + XRAY_RATE * invocations)
    usd = {
        "dynamodb": rru / 1e6 * PRICES["dynamodb_on_demand_per_million_read_request_units"]
        + wru / 1e6 * PRICES["dynamodb_on_demand_per_million_write_request_units"],
        "sqs": sqs / 1e6 * PRICES["sqs_standard_per_million_requests"],
        "lambda": invocations / 1e6 * PRICES["lambda_per_million_requests"]
        + gb_seconds * PRICES["lambda_arm64_per_gb_second"],
        "ses": emails / 1000 * PRICES["ses_per_thousand_emails"],
        "secrets_manager": secrets / 1e4 * PRICES["secrets_manager_per_10k_api_calls"],
        "logs_and_traces": invocations * LOG_BYTES_PER_INVOCATION / 1e9 * PRICES["cloudwatch_logs_ingested_per_gb"]
        + traces / 1e6 * PRICES["xray_per_million_traces_recorded"],
    }
    return {k: round(v, 6) for k, v in usd.items()}


def pipeline_start(model: Model) -> dict[str, float]:
    """Seconds from the update's write to: the plan jobs starting, the first delivery job on a queue."""
    d, lat = model.deployment, model.latency
    plan_jobs = 2 * d.shards
    stream = (lat.stream_window + model.cold_start + 4 * (lat.ddb_item + model.cpu_s(model.cpu.aws_call))
              + math.ceil(plan_jobs / d.sqs_batch) * (lat.sqs_call + model.cpu_s(model.cpu.aws_call)))
    plan_start = stream + lat.esm_pickup + model.cold_start
    first_job = plan_start + lat.ddb_query + lat.sqs_call
    return {"stream_side_done": stream, "plan_start": plan_start, "first_delivery_job": first_job,
            "sender_start": first_job + lat.esm_pickup + model.cold_start}


def channel(model: Model, name: str, n: int, ses_rate: float | None = None) -> dict[str, Any]:
    """Everything one channel does for one update to n subscribers."""
    d, lat, cpu = model.deployment, model.latency, model.cpu
    start = pipeline_start(model)
    ramp_per_s = ESM_RAMP_PER_MINUTE / 60
    # The plan queue's event source ramps too: with more invocations than its first 5,
    # the last of the stream side's jobs starts later (taken for all, to be safe).
    plan_invocations_all = math.ceil(2 * d.shards / d.plan_batch)
    plan_cap = concurrency_cap(d, d.plan_max_concurrency, None)
    plan_ramp = max(0, min(plan_invocations_all, plan_cap) - ESM_INITIAL_CONCURRENCY) / ramp_per_s
    plan = plan_channel(model, name, n, plan_ramp)
    event_units = read_units(model.event_bytes, consistent=True)
    subscriber_units = read_units(model.subscriber_bytes, consistent=True)
    # Per delivery, after its batch's prefix: the send, then its outcome (the whole item) handed
    # to the group commit, which ends the claim; the worker waits for it before its next job: at
    # most the commit window, then the BatchWriteItem (taken as the window in full: the upper
    # bound on the wait). Its CPU: its share of the BatchWriteItem call and its own item in it.
    if name == "email":
        batch, in_flight = d.email_batch, d.email_in_flight
        cap = concurrency_cap(d, d.email_max_concurrency, d.email_reserved)
        send_io, send_cpu = lat.ses_send, cpu.email_mime + cpu.email_other + cpu.aws_call  # SendEmail
    else:
        batch, in_flight = d.webhook_batch, d.webhook_in_flight
        cap = concurrency_cap(d, d.webhook_max_concurrency, d.webhook_reserved)
        send_io, send_cpu = lat.dns + lat.webhook_receiver, cpu.webhook_engine + cpu.webhook_tls  # DNS + POST
    per_commit = commit_batch(d, batch, in_flight)
    commit_wait = d.commit_window + lat.ddb_item
    io = send_io + commit_wait
    per_delivery_cpu = send_cpu + cpu.aws_call / per_commit + cpu.batch_write_item
    # Per SQS batch, before any send starts, one after the other: BatchGetItem of the batch's
    # subscribers or endpoints (<= 100 keys a call, consistent), GetItem of its one event,
    # TransactWriteItems of conditional Puts claiming every delivery (<= TRANSACTION_ITEMS a
    # call; each a new item, so none is cancelled). A planned update's batch holds one event and
    # distinct subscribers.
    invocations = math.ceil(n / batch)
    gets, transactions = math.ceil(batch / BATCH_GET_KEYS), math.ceil(batch / d.transaction_items)
    chunks = gets + transactions
    prefix_io = (gets + 1) * lat.ddb_item + transactions * lat.ddb_transaction
    prefix_cpu = (chunks + 1) * cpu.aws_call + batch * (cpu.batch_get_item + cpu.transact_item)
    prefix = prefix_io + model.cpu_s(prefix_cpu)
    reads = batch_calls(n, batch, BATCH_GET_KEYS)
    claims = batch_calls(n, batch, d.transaction_items)
    commits = batch_calls(n, batch, per_commit)
    # BatchGetItem bills each item as a GetItem (1 RRU per 4 KB, consistent); the event once a batch.
    rru = n * subscriber_units + invocations * event_units
    # The claim, a conditional Put in the transaction (2 WRU an item, < 1 KB), + the outcome's
    # Put in a BatchWriteItem (1 WRU, < 1 KB), whatever the items per call.
    wru = float(TRANSACTION_WRITE_UNITS + BATCH_WRITE_UNITS) * n
    ddb_ops = {"BatchGetItem": reads, "GetItem": invocations, "TransactWriteItems": claims,
               "BatchWriteItem": commits, "UpdateItem": 0}
    per_container, batch_seconds, bound = sender_capacity(model, batch, in_flight, io, per_delivery_cpu, prefix)
    limiter = f"{name} sender: {cap} containers x {per_container:.1f}/s ({'CPU' if bound == 'cpu' else 'I/O'}" \
              f" at {d.memory_mb} MB)"
    throttled = False
    if ses_rate is not None:
        pace = ses_rate / d.email_sender_concurrency  # each container's token bucket
        if pace <= per_container:
            per_container, limiter = pace, f"SES send rate ({ses_rate:g}/s)"
        throttled = cap * per_container > ses_rate * 1.001  # MaximumConcurrency and EMAIL_SENDER_CONCURRENCY differ
        if throttled:
            per_container, limiter = ses_rate / cap, f"SES send rate ({ses_rate:g}/s), with throttles"
    drain = drain_seconds(n, per_container, cap)
    steady = n / (per_container * cap)
    invocation_seconds = max(batch_seconds - lat.esm_batch, batch / per_container - lat.esm_batch)
    # Delivery jobs a timed-out plan invocation enqueues twice. A re-planned shard enqueues
    # them one after the other, so the model takes them to fill batches of their own: each
    # costs its share of its batch's prefix (reads, event, claim transaction), the
    # transaction is cancelled (every conditional Put finds its item; taken as billed in
    # full, 2 WRU an item: conservative), and claim_all then claims each alone, refused (a
    # failed conditional UpdateItem, 1 WRU) and read back (GetItem, 1 RRU): no SES token,
    # no MIME, no POST, no outcome to commit. (A duplicate in a batch of fresh jobs would
    # cancel that batch's transaction: the duplicate is claimed alone and the rest in a
    # second transaction, so one transaction more.) Their CPU fits into a container's idle
    # time (I/O, the token bucket) as far as there is any; past it they lengthen the drain.
    dupes = plan["duplicate_delivery_jobs"]
    dup_batches = math.ceil(dupes / batch)
    dup_cpu = (dup_batches * model.cpu_s(prefix_cpu)
               + dupes * model.cpu_s(cpu.email_other + 2 * cpu.aws_call))
    spare_cpu = max(0.0, invocations * invocation_seconds
                    - n * model.cpu_s(per_delivery_cpu) - invocations * model.cpu_s(prefix_cpu))
    dup_extra = max(0.0, dup_cpu - spare_cpu) / cap
    rru += dupes * (subscriber_units + 1.0) + dup_batches * event_units
    wru += dupes * float(TRANSACTION_WRITE_UNITS + 1)
    ddb_ops["BatchGetItem"] += batch_calls(dupes, batch, BATCH_GET_KEYS)
    ddb_ops["TransactWriteItems"] += batch_calls(dupes, batch, d.transaction_items)
    ddb_ops["GetItem"] += dup_batches + dupes
    ddb_ops["UpdateItem"] += dupes
    plan_done = start["plan_start"] + plan["done_seconds"] + lat.esm_pickup
    senders_done = start["sender_start"] + drain + dup_extra
    # The last delivery: its batch's prefix, then its send and its outcome's group commit.
    last = max(senders_done, plan_done) + prefix + io + model.cpu_s(per_delivery_cpu)
    parts = {
        limiter: steady,
        "SQS event source ramp (+300 concurrent a minute)": drain - steady,
        "planning (plan job chains on FanoutFunction)": max(0.0, plan_done - senders_done),
        "fixed latency (stream batching window, cold starts)": start["sender_start"],
        "duplicate delivery jobs (re-planned after a plan timeout)": dup_extra,
    }
    bottleneck = max(parts, key=lambda k: parts[k])
    blocker = None
    if plan["stuck"]:
        blocker = (f"FanoutFunction's {d.fanout_timeout} s Timeout leaves a plan job less than the"
                   f" {d.continue_with_seconds_left:g} s hand-off margin: every job hands itself on unread, for ever;"
                   f" nobody is notified")
    elif plan["status"] == "fails":
        blocker = (f"a plan job alone overruns FanoutFunction's {d.fanout_timeout} s Timeout: an index page takes"
                   f" {plan['page_seconds_max']:.0f} s, more than the {d.continue_with_seconds_left:g} s hand-off"
                   f" margin, so it starts one it cannot finish; every retry stops there;"
                   f" >= {plan['never_planned_fraction']:.0%} never notified")
    elif plan["status"] == "at risk":
        over = plan["first_overrun"]
        blocker = (f"PlanJobs BatchSize {d.plan_batch}: job {over['job_in_batch']} of an invocation starts a"
                   f" {over['page_seconds']:.0f} s index page with {over['seconds_left']:.0f} s left, so"
                   f" {plan['overrun_invocations']} invocations time out; their jobs are back after"
                   f" {d.plan_visibility_timeout} s ({dupes:,} duplicate delivery jobs), and if they share a"
                   f" batch on all {d.plan_max_receives} receives, {plan['worst_never_planned_fraction']:.0%}"
                   f" are never notified")
    sender_timeout = d.email_timeout if name == "email" else d.webhook_timeout
    if batch / per_container > sender_timeout:
        blocker = (blocker + "; " if blocker else "") + (
            f"one {name} sender batch takes {batch / per_container:.0f} s > its Timeout {sender_timeout} s")

    # Calls. The event source receives up to 10 messages a call and deletes a batch's
    # successes with DeleteMessageBatch calls of up to 10; a timed-out plan invocation
    # deletes none (and, being killed, sets no retry delay either).
    invocations += dup_batches
    calls_per_batch = math.ceil(batch / SQS_RECEIVE_MAX)
    plan_invocations = plan["invocations"]
    sqs_ops = {
        "SendMessageBatch": plan["send_message_batch"],
        "ReceiveMessage": invocations * calls_per_batch + plan_invocations,
        "DeleteMessageBatch": invocations * calls_per_batch + plan_invocations - plan["killed_invocations"],
        "ChangeMessageVisibility": 0,  # only on failures and throttles
    }
    containers = min(cap, max(1, invocations))
    plan_containers = min(plan["peak_concurrency"], plan_cap)
    # Each plan container is cold once; a continuation is assumed to need one (Latency).
    plan_cold = min(plan_invocations, plan_containers + plan["continuations"])
    gb_seconds = d.gb * ((invocations - dup_batches) * invocation_seconds + dup_extra * cap
                         + plan["invocation_seconds_total"] + (containers + plan_cold) * model.cold_start)
    lambda_invocations = invocations + plan_invocations
    ddb_ops["Query"] = plan["queries"]
    usd = costs(rru + plan["read_request_units"], wru, sum(sqs_ops.values()), lambda_invocations, gb_seconds,
                emails=n if name == "email" else 0, secrets=containers if name == "email" else 0,
                busy_seconds=last)
    return {
        "channel": name, "subscribers": n, "ses_rate": ses_rate,
        "time_to_last_s": round(last, 1), "time_to_last": human(last), "bottleneck": bottleneck,
        "blocker": blocker, "throughput_per_s": round(per_container * cap, 1),
        "container_rate_per_s": round(per_container, 2), "containers": cap,
        "time_parts_s": {k: round(v, 1) for k, v in parts.items()},
        "planning": {k: round(v, 3) if isinstance(v, float) else v for k, v in plan.items()},
        "dynamodb": {"calls": ddb_ops, "read_request_units": round(rru + plan["read_request_units"], 1),
                     "write_request_units": wru, "index_item_bytes": model.index_item_bytes[name],
                     "outcomes_per_batch_write": per_commit, "commit_wait_s_max": round(commit_wait, 3),
                     "index_pages": plan["pages_with_items"],
                     "peak_read_units_per_s": round(rru / n * per_container * cap, 1),
                     "peak_write_units_per_s": round(wru / n * per_container * cap, 1)},
        "sqs": sqs_ops,
        "lambda": {"sender_invocations": invocations, "plan_invocations": plan_invocations,
                   "plan_peak_concurrency": plan_containers,
                   "peak_concurrency": cap + plan_containers, "gb_seconds": round(gb_seconds, 1),
                   "sender_invocation_seconds": round(invocation_seconds, 3)},
        "ses_send_email": n if name == "email" else 0,
        "notified_fraction": round(1 - plan["never_planned_fraction"], 4),
        "throttled": throttled,
        "usd": usd, "usd_total": round(sum(usd.values()), 4),
    }


def stream_side(model: Model) -> dict[str, Any]:
    """Once per update whatever the audience: snapshot reads and write, the plan jobs' batches."""
    d = model.deployment
    jobs = 2 * d.shards
    rru = 1.0 + read_units(model.event_bytes, consistent=True) + 0.5  # components, the incident, unresolved (GSI)
    wru = float(math.ceil(model.event_bytes / WRITE_UNIT_BYTES))  # EVT# snapshot PutItem
    sends = math.ceil(jobs / d.sqs_batch)
    gb_seconds = d.gb * (0.3 + model.cold_start)
    usd = costs(rru, wru, sends, 1, gb_seconds, busy_seconds=1.0)
    return {"dynamodb": {"Query": 3, "PutItem": 1, "read_request_units": rru, "write_request_units": wru},
            "sqs": {"SendMessageBatch": sends}, "plan_jobs": jobs, "usd": usd, "usd_total": round(sum(usd.values()), 6)}


def human(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def build_model(args: argparse.Namespace) -> Model:
    deployment = read_deployment(ROOT / "template.yaml")
    overrides = {k: v for k, v in {
        "shards": args.shards, "plan_batch": args.plan_batch, "memory_mb": args.memory,
        "fanout_timeout": args.fanout_timeout, "account_concurrency": args.account_concurrency,
        "webhook_max_concurrency": args.webhook_concurrency, "commit_items_modelled": args.commit_items,
    }.items() if v is not None}
    if args.email_concurrency is not None:  # both numbers together, as template.yaml asks
        overrides |= {"email_max_concurrency": args.email_concurrency,
                      "email_sender_concurrency": args.email_concurrency}
    deployment = dataclasses.replace(deployment, **overrides)
    figures = read_benchmarks(ROOT / "docs" / "benchmarks.md")
    cpu = Cpu(webhook_engine=1 / figures["webhook_engine_per_s"], handler_import=figures["handler_import_ms"] / 1000)
    latency = Latency(webhook_receiver=args.receiver_ms / 1000, sqs_call=args.sqs_ms / 1000)
    items = {"email": index_item("email", deployment.shards, None),
             "webhook": index_item("webhook", deployment.shards, {"events": []})}
    return Model(deployment, latency, cpu, event_bytes=int(args.event_kb * 1024), components=args.components,
                 index_item_bytes={k: item_size(v) for k, v in items.items()})


def run(model: Model, email: Sequence[int], webhooks: Sequence[int], rates: Sequence[float],
        update_webhooks: int) -> list[dict[str, Any]]:
    """Every figure, as the dicts printed one per line."""
    d = model.deployment
    lines: list[dict[str, Any]] = [{
        "figure": "inputs", "value": None, "deployment": dataclasses.asdict(d),
        "index_item_bytes": dict(model.index_item_bytes), "event_snapshot_bytes": model.event_bytes,
        "latency_s": dataclasses.asdict(model.latency), "cpu_s_one_vcpu": dataclasses.asdict(model.cpu),
        "cold_start_s": round(model.cold_start, 2),
        "sqs_event_source": {"initial": ESM_INITIAL_CONCURRENCY, "ramp_per_minute": ESM_RAMP_PER_MINUTE,
                             "max": ESM_MAX_CONCURRENCY},
        "prices_usd": PRICES, "prices_date": PRICES_DATE,
    }]
    side = stream_side(model)
    lines.append({"figure": "stream_side", "value": side["usd_total"], **side})
    for n in email:
        for rate in rates:
            result = channel(model, "email", n, rate)
            lines.append({"figure": "email", "value": result["time_to_last_s"], **result})
    for n in webhooks:
        result = channel(model, "webhook", n)
        lines.append({"figure": "webhook", "value": result["time_to_last_s"], **result})
    hooks = channel(model, "webhook", update_webhooks)
    for n in email:
        for rate in rates:
            mail = channel(model, "email", n, rate)
            total = mail["usd_total"] + hooks["usd_total"] + side["usd_total"]
            last = max((mail, hooks), key=lambda c: c["time_to_last_s"])
            # Both senders, both channels' plan invocations, the stream consumer and the publisher at once.
            concurrency = (mail["containers"] + hooks["containers"] + mail["lambda"]["plan_peak_concurrency"]
                           + hooks["lambda"]["plan_peak_concurrency"] + 2)
            peak_wru = mail["dynamodb"]["peak_write_units_per_s"] + hooks["dynamodb"]["peak_write_units_per_s"]
            peak_rru = mail["dynamodb"]["peak_read_units_per_s"] + hooks["dynamodb"]["peak_read_units_per_s"]
            lines.append({
                "figure": "update", "value": last["time_to_last_s"], "email_subscribers": n,
                "webhook_endpoints": update_webhooks, "ses_rate": rate,
                "time_to_last_notification_s": last["time_to_last_s"], "last_channel": last["channel"],
                "time_to_last_email_s": mail["time_to_last_s"], "time_to_last_email": mail["time_to_last"],
                "time_to_last_webhook_s": hooks["time_to_last_s"], "time_to_last_webhook": hooks["time_to_last"],
                "bottleneck": last["bottleneck"], "email_bottleneck": mail["bottleneck"],
                "blocker": mail["blocker"] or hooks["blocker"], "peak_concurrency": concurrency,
                "notified_fraction": min(mail["notified_fraction"], hooks["notified_fraction"]),
                "planning_status": mail["planning"]["status"],
                "plan_chain_links": mail["planning"]["chain_links"],
                "plan_done_s": round(mail["planning"]["done_seconds"], 1),
                "lambda_invocations": (mail["lambda"]["sender_invocations"] + mail["lambda"]["plan_invocations"]
                                       + hooks["lambda"]["sender_invocations"]
                                       + hooks["lambda"]["plan_invocations"] + 1),
                "sqs_requests": (sum(mail["sqs"].values()) + sum(hooks["sqs"].values())
                                 + sum(side["sqs"].values())),
                "over_account_concurrency": concurrency > d.account_concurrency,
                # Both senders at full speed at once: what a fresh on-demand table is asked for.
                "peak_write_units_per_s": peak_wru, "peak_read_units_per_s": peak_rru,
                "over_new_table_throughput": peak_wru > NEW_TABLE_WRU_PER_S or peak_rru > NEW_TABLE_RRU_PER_S,
                "usd_total": round(total, 4), "usd_ses": mail["usd"]["ses"],
                "usd_without_ses": round(total - mail["usd"]["ses"], 4),
            })
    return lines


def markdown(lines: list[dict[str, Any]]) -> str:
    d = lines[0]["deployment"]
    hooks = next((x["webhook_endpoints"] for x in lines if x["figure"] == "update"), 0)
    out = [f"Deployment: FANOUT_SHARDS {d['shards']}, PlanJobs BatchSize {d['plan_batch']}, FanoutFunction Timeout"
           f" {d['fanout_timeout']} s (a plan job reads index pages of {d['page_items']:,} items and hands off when,"
           f" before one, fewer than {d['continue_with_seconds_left']:g} s are left),"
           f" PlanQueue VisibilityTimeout {d['plan_visibility_timeout']} s and maxReceiveCount"
           f" {d['plan_max_receives']}, email MaximumConcurrency {d['email_max_concurrency']} (BatchSize"
           f" {d['email_batch']}), webhook MaximumConcurrency {d['webhook_max_concurrency']} (BatchSize"
           f" {d['webhook_batch']}), MemorySize {d['memory_mb']} MB.", "",
           f"### One update: email subscribers + {hooks:,} webhook endpoints", "",
           "| email subscribers | SES rate | last email | last webhook | USD / update | of which SES | bottleneck |"
           " blocker |", "|---:|---:|---:|---:|---:|---:|---|---|"]
    for line in (x for x in lines if x["figure"] == "update"):
        out.append(f"| {line['email_subscribers']:,} | {line['ses_rate']:g}/s | {line['time_to_last_email']} "
                   f"| {line['time_to_last_webhook']} | {line['usd_total']:.2f} | {line['usd_ses']:.2f} "
                   f"| {line['bottleneck']} | {line['blocker'] or ''} |")
    out += ["", "### Webhooks alone", "",
            "| endpoints | last webhook | deliveries/s | USD | bottleneck | planning |",
            "|---:|---:|---:|---:|---|---|"]
    for line in (x for x in lines if x["figure"] == "webhook"):
        out.append(f"| {line['subscribers']:,} | {line['time_to_last']} | {line['throughput_per_s']:g} "
                   f"| {line['usd_total']:.4f} | {line['bottleneck']} | {line['planning']['status']} |")
    out += ["", "### Planning (email channel)", "",
            "| email subscribers | index pages per shard | one page | a shard alone: invocations, longest, chain "
            "| plan invocations (timed out) | hand-offs (unread) | planning done (from its start): modelled / "
            "hand-offs batched together | status | duplicate delivery jobs | never notified: modelled / worst case |",
            "|---:|---:|---:|---|---:|---:|---|---|---:|---|"]
    planned: set[int] = set()
    for line in (x for x in lines if x["figure"] == "email"):
        if line["subscribers"] in planned:
            continue
        planned.add(line["subscribers"])
        plan = line["planning"]
        worst = human(plan["worst_done_seconds"]) if plan["worst_done_seconds"] is not None else "-"
        out.append(f"| {line['subscribers']:,} | {plan['pages_per_shard']} | {human(plan['page_seconds_max'])} "
                   f"| {plan['chain_links']}, {human(plan['longest_invocation_seconds'])}, "
                   f"{human(plan['chain_seconds'])} | {plan['invocations']} ({plan['killed_invocations']}) "
                   f"| {plan['continuations']} ({plan['unread_handoffs']}) | {human(plan['done_seconds'])} / "
                   f"{worst} | {plan['status']} | {plan['duplicate_delivery_jobs']:,} "
                   f"| {plan['never_planned_fraction']:.0%} / {plan['worst_never_planned_fraction']:.0%} |")
    out += ["", "### Calls per update (email channel, first SES rate)", "",
            "| email subscribers | DynamoDB calls | index pages | RRU | WRU | SQS requests | Lambda invocations "
            "| GB-s | SendEmail | USD (no SES) |", "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    seen: set[int] = set()
    for line in (x for x in lines if x["figure"] == "email"):
        if line["subscribers"] in seen:
            continue
        seen.add(line["subscribers"])
        ddb = ", ".join(f"{k} {v:,}" for k, v in line["dynamodb"]["calls"].items() if v)
        sqs = ", ".join(f"{k} {v:,}" for k, v in line["sqs"].items() if v)
        lam = line["lambda"]
        out.append(f"| {line['subscribers']:,} | {ddb} | {line['dynamodb']['index_pages']} "
                   f"| {line['dynamodb']['read_request_units']:,.0f} | {line['dynamodb']['write_request_units']:,.0f} "
                   f"| {sqs} | {lam['sender_invocations'] + lam['plan_invocations']:,} | {lam['gb_seconds']:,.0f} "
                   f"| {line['ses_send_email']:,} | {line['usd_total'] - line['usd']['ses']:.4f} |")
    return "\n".join(out)


def numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--email", type=numbers, default=[1_000, 100_000, 1_000_000], help="email subscribers")
    parser.add_argument("--webhooks", type=numbers, default=[1_000, 10_000, 100_000], help="webhook endpoints")
    parser.add_argument("--update-webhooks", type=int, default=10_000, help="endpoints alongside the email sizes")
    parser.add_argument("--ses-rates", type=numbers, default=[14, 200, 1_000, 3_000], help="SES MaxSendRate, mails/s")
    parser.add_argument("--shards", type=int, help="FANOUT_SHARDS (default: template.yaml)")
    parser.add_argument("--plan-batch", type=int, help="PlanJobs BatchSize (default: template.yaml)")
    parser.add_argument("--fanout-timeout", type=int, help="FanoutFunction Timeout (default: template.yaml)")
    parser.add_argument("--email-concurrency", type=int,
                        help="email MaximumConcurrency and EMAIL_SENDER_CONCURRENCY (default: template.yaml)")
    parser.add_argument("--webhook-concurrency", type=int, help="webhook MaximumConcurrency (default: template.yaml)")
    parser.add_argument("--commit-items", type=int,
                        help="outcomes per BatchWriteItem (default: min(25, the batch's workers), an upper bound)")
    parser.add_argument("--memory", type=int, help="MemorySize of every function, MB (default: template.yaml)")
    parser.add_argument("--account-concurrency", type=int, help=f"regional quota (default {ACCOUNT_CONCURRENCY})")
    parser.add_argument("--receiver-ms", type=float, default=200, help="a partner endpoint's answer incl. TLS")
    parser.add_argument("--sqs-ms", type=float, default=20, help="one SendMessageBatch round trip on AWS")
    parser.add_argument("--event-kb", type=float, default=6, help="event snapshot size")
    parser.add_argument("--components", type=int, default=1, help="components the update touches")
    parser.add_argument("--markdown", action="store_true", help="print the tables of docs/scaling.md instead")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    model = build_model(args)
    lines = run(model, [int(n) for n in args.email], [int(n) for n in args.webhooks], args.ses_rates,
                args.update_webhooks)
    if args.markdown:
        print(markdown(lines))
        return
    for line in lines:
        print(json.dumps({"bench": "scale_model", **line}), flush=True)


if __name__ == "__main__":
    main()
