"""webhook_vs_floor: the webhook sender's deliveries per second against a
reference floor that does only what a durable, exactly-once sender must, in
the same emulator, to the same receiver, A/B interleaved (issue 11).

Sender: the real DeliveryEngine + WebhookChannel + WebhookStore, driven by
`handle_batch` with SQS-shaped records (no pollers, no queues: a stub SQS
client, and any call it records voids the figure). Its time is from
`handle_batch` entry to return, every outcome durable by then.

Floor (`Floor` below, this file's own code): per batch one BatchGetItem of
the batch's endpoints, one GetItem per event snapshot not yet read this
round (the engine keeps snapshots the same way), one TransactWriteItems of
the batch's claims as conditional Puts (attribute_not_exists) of the
deliveries' log items; per delivery the Standard Webhooks body, its
signature (`status_fanout.webhooks.models.sign`), one POST; its outcome (the
log item, status `delivered`) through a shared commit buffer in
BatchWriteItem of ≤ 25, the worker returning once its own item is written.
Same pool size and in-flight count as the sender (32), batch after batch.

Chat formats (issue 12, `--formats`): the same sender, the same warm
engine, to `--endpoints` endpoints of each chat format (`slack`, `teams`,
`discord`, `google_chat`: unsigned, no secrets), each a side of its own in
every round, so each is compared with the standard format measured in the
same rounds. The channel builds a chat body once per event and format in a
batch, as it does the standard one; the goal is that this costs no more
than 10 % of the standard format's CPU per delivery (`bench/chat_bodies.py`
measures the body building alone, more precisely).

Both run against the local stack's emulator (moto server with its DynamoDB
fixes) in a process of its own, the table created from template.yaml's
StatusTable, and a threaded loopback receiver in a third process
(`floorkit/receiver_process.py`) answering after `--delays` ms as the
destination would: 204 for a partner endpoint and Discord, 200 for Slack,
Teams and Google Chat. Every round uses fresh events, so fresh delivery ids;
the sides (sender with standard endpoints, floor, sender with each chat
format) run in an order rotated by one each round, so with the standard
format alone the sender is first in odd rounds, the floor in even ones.
A round of a side is void unless each of its deliveries reached the
receiver exactly once (a partner delivery by its `webhook-id`, a chat
message by its path and the event's token in its text), every body parsed
as a JSON object, no chat message carried a `webhook-signature` (and every
partner delivery did), its log item reads `delivered` (the endpoints'
`DLV#` items, queried after the round) and the stub SQS saw no call.

One JSON line per receiver delay: both median rates, the ratio (median of
the rounds' ratios), CPU ms per delivery of the bench, emulator and receiver
processes, AWS requests per delivery (botocore `before-call`), load average.
Then one line per format (`"bench": "webhook_vs_floor.format"`, standard
included): its median rate, the median of the rounds' rate ratios to the
standard format's, CPU ms per delivery of each process and the bench
process's ratio to (over all rounds, and round by round) and difference from
the standard format's, load average (the 1-minute one at start and end, and
/proc/loadavg at the end).

Usage: .venv/bin/python bench/webhook_vs_floor.py [--endpoints 100] [--events 10] [--batch 50]
       [--in-flight 32] [--delays 0,50] [--rounds 3] [--formats standard,slack,teams,discord,google_chat]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import urllib3
from floorkit import (
    Child,
    Emulated,
    GroupCommit,
    Phase,
    StubSqs,
    batch_get,
    chunks,
    compare,
    create_status_table,
    now_text,
    profile_to,
    run_phase,
    sqs_record,
    start_mark,
    summary,
)

TABLE = "bench-status"
TARGET = ">= 0.8"
CHAT_FORMATS = ("slack", "teams", "discord", "google_chat")
FORMATS = ("standard", *CHAT_FORMATS)


class Floor:
    """The reference floor: the least a durable webhook sender does per batch and per delivery."""

    def __init__(self, db: Any, table: str, in_flight: int) -> None:
        from status_fanout.webhooks.models import sign  # the one piece shared with the sender: the signature

        self.db, self.table, self.sign = db, table, sign
        self.http = urllib3.PoolManager(maxsize=in_flight, block=False, retries=False,
                                        timeout=urllib3.Timeout(connect=5, read=15))
        self.pool = ThreadPoolExecutor(in_flight)
        self.commit = GroupCommit(db, table)
        self.events: dict[str, dict[str, Any]] = {}  # snapshots read this round

    def batch(self, jobs: list[dict[str, Any]]) -> None:
        keys = [{"pk": {"S": f"WH#{i}"}, "sk": {"S": "#META"}} for i in dict.fromkeys(j["subscriber_id"] for j in jobs)]
        endpoints = {item["pk"]["S"][3:]: item for item in batch_get(self.db, self.table, keys)}
        for event_id in dict.fromkeys(j["event_id"] for j in jobs):
            if event_id not in self.events:
                item = self.db.get_item(TableName=self.table, ConsistentRead=True,
                                        Key={"pk": {"S": f"EVT#{event_id}"}, "sk": {"S": "#EVENT"}})["Item"]
                self.events[event_id] = json.loads(item["payload"]["S"])
        due = [j for j in jobs if endpoints.get(j["subscriber_id"], {}).get("status", {}).get("S") == "active"]
        now = int(time.time())
        for part in chunks(due, 100):  # DynamoDB's ceiling per transaction; one for batches up to 100
            self.db.transact_write_items(TransactItems=[{"Put": {
                "TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                "Item": self.log_item(j, "sending", now) | {"lease_until": {"N": str(now + 900)}}}} for j in part])
        list(self.pool.map(lambda j: self.deliver(j, endpoints[j["subscriber_id"]]), due))

    def deliver(self, job: dict[str, Any], endpoint: dict[str, Any]) -> None:
        event = self.events[job["event_id"]]
        body = json.dumps({"type": event["type"], "timestamp": event["occurred_at"], "data": {
            "page": event["page"], "incident": event.get("incident"), "update": event.get("update"),
            "sequence": event.get("sequence")}}, separators=(",", ":"), ensure_ascii=False).encode()
        stamp = int(time.time())
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
        secrets = [s["M"]["secret"]["S"] for s in endpoint["secrets"]["L"]
                   if s["M"].get("retires_at", {}).get("S", "\uffff") > at]
        started = time.perf_counter()
        reply = self.http.request("POST", endpoint["url"]["S"], body=body, headers={
            "webhook-id": job["delivery_id"], "webhook-timestamp": str(stamp), "content-type": "application/json",
            "webhook-signature": self.sign(secrets, job["delivery_id"], stamp, body)})
        status = "delivered" if 200 <= reply.status < 300 else "failed"
        attempt = {"M": {"at": {"S": at}, "attempt": {"N": "1"}, "status_code": {"N": str(reply.status)},
                         "latency_ms": {"N": str(int((time.perf_counter() - started) * 1000))}}}
        self.commit.put(self.log_item(job, status, stamp) | {"attempts": {"L": [attempt]}})

    @staticmethod
    def log_item(job: dict[str, Any], status: str, now: int) -> dict[str, Any]:
        return {"pk": {"S": f"WH#{job['subscriber_id']}"},
                "sk": {"S": f"DLV#{job['occurred_at']}#{job['delivery_id']}"},
                "type": {"S": "delivery"}, "delivery_id": {"S": job["delivery_id"]},
                "event_id": {"S": job["event_id"]}, "event_type": {"S": job["event_type"]},
                "occurred_at": {"S": job["occurred_at"]}, "status": {"S": status},
                "expires_at": {"N": str(now + 30 * 86400)}}

    def close(self) -> None:
        self.pool.shutdown()
        self.http.clear()


def _main(args: argparse.Namespace) -> list[dict[str, Any]]:
    from status_fanout.settings import Settings, WebhookSettings

    emulated = Emulated()
    try:
        create_status_table(emulated.client("dynamodb"), TABLE)
        settings = Settings(table_name=TABLE, webhook=WebhookSettings(
            allow_loopback=True, allow_http=True, queue_url="stub://webhook-queue", dlq_url="stub://webhook-dlq"))
        results = []
        for delay in [int(d) for d in args.delays.split(",")]:
            receiver = Child("receiver_process.py", "--delay-ms", str(delay))
            try:
                results += one_delay(args, settings, emulated, receiver, delay)
            finally:
                receiver.close()
        return results
    finally:
        emulated.close()


def one_delay(args: argparse.Namespace, settings: Any, emulated: Emulated, receiver: Child,
              delay: int) -> list[dict[str, Any]]:
    """Every side's rounds against one receiver: the sender/floor figure, then one line per format."""
    from status_fanout.delivery.engine import DeliveryEngine
    from status_fanout.delivery.events import EventSnapshot, EventStore, delivery_id
    from status_fanout.dynamo import Store
    from status_fanout.timefmt import format_ts, utcnow
    from status_fanout.webhooks.channel import WebhookChannel
    from status_fanout.webhooks.models import BodyFormat, WebhookEndpoint, WebhookSecret, new_secret
    from status_fanout.webhooks.store import WebhookStore
    from status_fanout.webhooks.transport import Dialer

    setup_db = emulated.client("dynamodb")
    setup_store = WebhookStore(Store(TABLE, setup_db), settings.fanout.shards)
    events = EventStore(Store(TABLE, setup_db))
    now = format_ts(utcnow())
    formats: list[str] = args.formats
    # Standard endpoints as before issue 12 (the floor posts to them too); a chat
    # format's under /<format>/, which the receiver answers as that app would.
    paths = {fmt: [f"/e{n}" if fmt == "standard" else f"/{fmt}/e{n}" for n in range(args.endpoints)]
             for fmt in formats}
    endpoints = {fmt: [setup_store.save(WebhookEndpoint(
        id=f"wh_d{delay}_{n:04d}" if fmt == "standard" else f"wh_d{delay}_{fmt}_{n:04d}",
        url=receiver.url + paths[fmt][n], created_at=now, updated_at=now, format=cast(BodyFormat, fmt),
        secrets=[WebhookSecret(secret=new_secret(), created_at=now)] if fmt == "standard" else []), None)
        for n in range(args.endpoints)] for fmt in formats}
    path_of = {ep.id: paths[fmt][n] for fmt in formats for n, ep in enumerate(endpoints[fmt])}
    token_of: dict[str, str] = {}  # event id -> the token its text carries, how the receiver tells chat messages apart
    made = 0

    def workload(label: str, count: int, fmt: str) -> list[dict[str, Any]]:
        """Fresh events (so fresh delivery ids), their jobs event by event as the planner enqueues them."""
        nonlocal made
        jobs = []
        for n in range(count):
            made += 1
            at = format_ts(utcnow())
            event_id, token = f"bench:{delay}:{label}:{made}", f"bench-event-{made}"
            token_of[event_id] = token
            event = events.put(EventSnapshot(
                id=event_id, type="incident.updated", occurred_at=at, incident_id="bench",
                page={"id": "bench", "name": "Bench", "url": receiver.url, "time_zone": "Etc/UTC", "updated_at": at},
                status={"indicator": "minor", "description": "Minor Service Outage"},
                incident={"id": "bench", "name": "Bench incident", "status": "identified", "impact": "minor"},
                update={"id": f"u{n}", "status": "identified", "label": "Identified", "created_at": at,
                        "body": (f"Update {token}: " + "x" * 400)[:400]},
                sequence=made), int(time.time()) + 3600)
            jobs += [{"delivery_id": delivery_id(event.id, ep.id), "event_id": event.id, "event_type": event.type,
                      "occurred_at": event.occurred_at, "subscriber_id": ep.id} for ep in endpoints[fmt]]
        return jobs

    def receiver_key(job: dict[str, Any]) -> str:
        """How the receiver counts this delivery (floorkit/receiver_process.py)."""
        path = path_of[job["subscriber_id"]]
        return job["delivery_id"] if path.count("/") == 1 else f"{path} {token_of[job['event_id']]}"

    # One warm "container" per side for the whole figure, as Lambda reuses one;
    # the sender's serves every format, as one sender function does.
    sqs = StubSqs()
    sender_db = emulated.client("dynamodb")
    # The channel's own dialer, its pool sized to --in-flight.
    channel = WebhookChannel(WebhookStore(Store(TABLE, sender_db), settings.fanout.shards), settings,
                             dialer=Dialer(settings.webhook.timeout_seconds, max_per_host=args.in_flight))
    channel.max_in_flight = args.in_flight
    engine = DeliveryEngine(channel, Store(TABLE, sender_db), sqs=sqs)
    floor = Floor(emulated.client("dynamodb"), TABLE, args.in_flight)

    def run_sender(jobs: list[dict[str, Any]]) -> tuple[float, list[str]]:
        records = [sqs_record(n, job) for n, job in enumerate(jobs)]
        seconds, failures = 0.0, []
        for batch in chunks(records, args.batch):
            started = time.perf_counter()
            result = engine.handle_batch(batch, settings.webhook.queue_url)
            seconds += time.perf_counter() - started
            failures += [f["itemIdentifier"] for f in result["batchItemFailures"]]
        return seconds, failures

    def run_floor(jobs: list[dict[str, Any]]) -> tuple[float, list[str]]:
        floor.events.clear()
        seconds = 0.0
        for batch in chunks(jobs, args.batch):
            started = time.perf_counter()
            floor.batch(batch)
            seconds += time.perf_counter() - started
        return seconds, []

    def check(phase: Phase, jobs: list[dict[str, Any]], failures: list[str]) -> None:
        """Void unless each delivery reached the receiver once, as it should look, and its log item reads delivered."""
        expected = {receiver_key(j) for j in jobs}
        heard = receiver.get_json("/seen")
        seen = heard["seen"]
        if set(seen) != expected:
            phase.void.append(f"the receiver saw {len(set(seen) & expected)} of {len(expected)} deliveries "
                              f"and {len(set(seen) - expected)} others")
        if any(n != 1 for n in seen.values()):
            phase.void.append(f"{sum(1 for n in seen.values() if n != 1)} deliveries arrived more than once")
        phase.void += [f"{n} × {what}" for what, n in sorted(heard["problems"].items())]
        ids = {j["delivery_id"] for j in jobs}
        statuses: dict[str, str] = {}
        errors: collections.Counter[str] = collections.Counter()
        for ep in {j["subscriber_id"] for j in jobs}:
            pages = setup_db.get_paginator("query").paginate(
                TableName=TABLE, KeyConditionExpression="pk = :p AND begins_with(sk, :d)",
                ExpressionAttributeValues={":p": {"S": f"WH#{ep}"}, ":d": {"S": "DLV#"}})
            for page in pages:
                for item in page["Items"]:
                    if item["delivery_id"]["S"] in ids:
                        statuses[item["delivery_id"]["S"]] = item["status"]["S"]
                        if item["status"]["S"] != "delivered":
                            last = (item.get("attempts", {}).get("L") or [{"M": {}}])[-1]["M"]
                            errors[f"{item['status']['S']}: {json.dumps(last.get('error') or last.get('status_code'))}"
                                   [:160]] += 1
        delivered = sum(1 for s in statuses.values() if s == "delivered")
        if delivered != len(ids):
            phase.void.append(f"{delivered} of {len(ids)} log items read delivered"
                              + "".join(f"; {n} × {e}" for e, n in errors.most_common(3)))
        if failures:
            phase.void.append(f"{len(failures)} batch item failures")
        calls = sqs.take()
        if calls:
            phase.void.append(f"{len(calls)} SQS calls ({', '.join(sorted({c[0] for c in calls}))})")

    # The sides: "sender" is the sender with standard endpoints, a chat format's
    # name the sender with endpoints of that format.
    sides = ["sender", "floor", *(f for f in formats if f != "standard")]
    fmt_of = {side: "standard" if side in ("sender", "floor") else side for side in sides}
    runs = {side: run_floor if side == "floor" else run_sender for side in sides}

    # Warm every side up (imports, pools, connections, each format's builder) on one batch each, unmeasured,
    # checked as a round is: a failed warm-up delivery voids the figure (and says why).
    warm_void = []
    for side in sides:
        jobs = workload("warm", 1, fmt_of[side])[:args.batch]
        warm = Phase(side, len(jobs), 0.0, {}, {}, 0)
        check(warm, jobs, runs[side](jobs)[1])
        warm_void += [f"warm-up {side}: {reason}" for reason in warm.void]

    started = start_mark()
    phases: dict[str, list[Phase]] = {side: [] for side in sides}
    orders = []
    for round_ in range(args.rounds):
        shift = round_ % len(sides)
        order = sides[shift:] + sides[:shift]
        orders.append(order)
        for side in order:
            jobs = workload(f"{side}{round_}", args.events, fmt_of[side])
            outcome: dict[str, Any] = {}

            def work(run: Any = runs[side], jobs: list[dict[str, Any]] = jobs, outcome: dict[str, Any] = outcome
                     ) -> float:
                seconds, outcome["failures"] = run(jobs)
                return float(seconds)

            phase = run_phase(side, len(jobs), emulated, {"receiver": receiver}, work, f"{side}-d{delay}-r{round_ + 1}")
            check(phase, jobs, outcome["failures"])
            print(f"{side} round {round_ + 1}: {phase.per_s:.1f}/s {phase.void or ''}", file=sys.stderr)
            phases[side].append(phase)
    floor.close()
    workload_fields = {"deliveries": args.endpoints * args.events, "endpoints": args.endpoints,
                       "events": args.events, "batch": args.batch, "in_flight": args.in_flight}
    figures = [compare("webhook_vs_floor", phases["sender"], phases["floor"], TARGET, started, warm_void,
                       receiver_delay_ms=delay, **workload_fields)]
    figures += [by_format(fmt_of[side], phases[side], phases["sender"], started, warm_void, orders,
                          receiver_delay_ms=delay, **workload_fields)
                for side in sides if side != "floor"]
    return figures


def by_format(fmt: str, phases: list[Phase], standard: list[Phase], started: tuple[str, float],
              void: list[str], orders: list[list[str]], **extra: Any) -> dict[str, Any]:
    """One format's line: its rate and costs, and how they compare with the
    standard format's in the same rounds."""
    ratios = [p.per_s / s.per_s for p, s in zip(phases, standard, strict=True)]
    mine, theirs = summary(phases), summary(standard)
    cpu, standard_cpu = mine["cpu_ms_per_delivery"]["bench"], theirs["cpu_ms_per_delivery"]["bench"]
    void = [*void, *(f"{fmt} round {n + 1}: {reason}" for n, p in enumerate(phases) for reason in p.void),
            *(f"standard round {n + 1}: {reason}" for n, p in enumerate(standard) for reason in p.void
              if fmt != "standard")]
    figure: dict[str, Any] = {
        "bench": "webhook_vs_floor.format", "format": fmt, **extra, "rounds": len(phases),
        "per_s": mine["per_s"], "rounds_per_s": mine["rounds_per_s"],
        "ratio_to_standard": round(statistics.median(ratios), 3), "round_ratios_to_standard":
            [round(r, 3) for r in ratios],
        "cpu_ms_per_delivery": mine["cpu_ms_per_delivery"],
        "bench_cpu_ratio_to_standard": round(cpu / standard_cpu, 3),
        "round_bench_cpu_ratios_to_standard": [round(p.cpu["bench"] / p.deliveries / (s.cpu["bench"] / s.deliveries), 3)
                                               for p, s in zip(phases, standard, strict=True)],
        "bench_cpu_extra_ms_per_delivery": round(cpu - standard_cpu, 3),
        "standard_cpu_ms_per_delivery": theirs["cpu_ms_per_delivery"],
        "aws_requests_per_delivery": mine["aws_requests_per_delivery"],
        "orders": [" ".join("standard" if s == "sender" else s for s in order) for order in orders],
        "load1": [started[1], round(os.getloadavg()[0], 2)], "loadavg": loadavg(),
        "started": started[0], "finished": now_text(),
    }
    if void:
        figure["void"] = "; ".join(void[:10]) + (f"; and {len(void) - 10} more" if len(void) > 10 else "")
    return figure


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--events", type=int, default=10, help="events per round and side")
    parser.add_argument("--batch", type=int, default=50, help="SQS batch size")
    parser.add_argument("--in-flight", type=int, default=32, help="sender workers per batch; the floor's pool")
    parser.add_argument("--delays", default="0,50", help="receiver delays in ms, one figure each")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help="endpoint formats, each a side of every round; standard is always one (the floor's)")
    parser.add_argument("--py-spy", metavar="DIR", help="record py-spy stacks of each measured phase here "
                        "(bench/floorkit/stacks.py DIR sums them up); perturbs the figures")
    args = parser.parse_args()
    args.formats = ["standard", *dict.fromkeys(f for f in args.formats.split(",") if f and f != "standard")]
    if unknown := [f for f in args.formats if f not in FORMATS]:
        parser.error(f"unknown formats {', '.join(unknown)} (known: {', '.join(FORMATS)})")
    profile_to(args.py_spy)
    # The engine's logs and metrics go to stdout: keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main(args)
    for line in lines:
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
