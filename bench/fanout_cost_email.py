"""fanout_cost_email: the AWS calls the planner makes for one update to
N email subscribers, against the floor ceil(N/10) SendMessageBatch calls plus
one query page per MB of subscriber index.

The real Planner with only its email channel, against moto server (the table
built from template.yaml by the local stack). N confirmed email subscribers
of everything are in the sharded index (items as SubscriberStore writes
them); every AWS API call the planner's clients make is counted with
botocore's event hooks: the stream side (snapshot reads and write, planning
jobs) and every shard's planning job. One JSON line per figure.

Usage: .venv/bin/python bench/fanout_cost_email.py [--subscribers N] [--shards S]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=16)
    args = parser.parse_args()

    from status_fanout.api.auth import hash_token
    from status_fanout.delivery.planner import EventRef, Planner
    from status_fanout.delivery.subscriber_index import SubscriberIndex, index_keys, index_writes
    from status_fanout.email.store import CHANNEL
    from status_fanout.incidents.models import ComponentPut, IncidentCreate
    from status_fanout.incidents.service import StatusService
    from status_fanout.incidents.store import IncidentStore
    from status_fanout.settings import Settings
    from status_fanout_local.stack import LocalStack

    env = {"FANOUT_SHARDS": str(args.shards), "OUTBOX_DIR": str(ROOT / ".local" / "bench-outbox")}
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token("bench")}, env=env) as stack:
        table = stack.physical["StatusTable"]
        ddb = boto3.client("dynamodb")
        # The index items exactly as SubscriberStore.save writes them for a confirmed subscriber.
        puts = [entry["Put"]["Item"] for n in range(args.subscribers)
                for entry in index_writes(table, CHANNEL, set(),
                                          index_keys(CHANNEL, f"sub{n:07d}", [], args.shards))]
        for start in range(0, len(puts), 25):
            ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in puts[start:start + 25]]})
        index_bytes = sum(len(json.dumps(i)) for i in puts)

        service = StatusService(IncidentStore(table, ddb))
        service.put_component("smtp-email", ComponentPut(name="SMTP Email"))
        incident, _ = service.create_incident(IncidentCreate(name="bench", status="investigating", body="b",
                                                             components={"smtp-email": "major_outage"},
                                                             notify=False))
        stack.wait_idle(timeout=60)
        stack.stop_pollers()  # the planner's calls alone, on a quiet emulator

        sink = boto3.client("sqs").create_queue(QueueName="fanout-cost-email-sink")["QueueUrl"]
        settings = Settings.from_env()
        settings = settings.model_copy(update={
            "webhook": settings.webhook.model_copy(update={"queue_url": ""}),
            "email": settings.email.model_copy(update={"queue_url": sink}),
            "fanout": settings.fanout.model_copy(update={"plan_queue_url": sink, "shards": args.shards})})
        calls: collections.Counter[str] = collections.Counter()
        counted_ddb, counted_sqs = boto3.client("dynamodb"), boto3.client("sqs")
        for client in (counted_ddb, counted_sqs):
            client.meta.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
        store = IncidentStore(table, counted_ddb)
        planner = Planner(store, SubscriberIndex(store), settings, sqs=counted_sqs)
        assert list(planner.channels) == ["email"]

        started = time.perf_counter()
        event = planner.snapshot(EventRef("update", incident_id=incident.id, update_seq=1))
        assert event is not None
        planner.plan_event(event)  # the planning jobs go to the sink, read back below
        jobs: list[dict[str, Any]] = []
        while len(jobs) < args.shards:
            reply = counted_sqs.receive_message(QueueUrl=sink, MaxNumberOfMessages=10)
            jobs += [json.loads(m["Body"]) for m in reply.get("Messages", [])]
        calls.pop("ReceiveMessage", None)  # the benchmark's own reads, not the planner's
        enqueued = 0
        sink_admin = boto3.client("sqs")  # not counted
        for job in jobs:
            # moto recounts the whole queue on every SendMessage (O(n^2) over a
            # run): each shard gets a sink of its own to keep them small.
            planner.channels[str(job["channel"])] = sink_admin.create_queue(
                QueueName=f"{job['channel']}-sink-{job['shard']}")["QueueUrl"]
            enqueued += planner.plan_shard(job)
        seconds = time.perf_counter() - started

    assert enqueued == args.subscribers, (enqueued, args.subscribers)
    total = sum(calls.values())
    floor = math.ceil(args.subscribers / 10) + max(1, math.ceil(index_bytes / 1_000_000))
    line: dict[str, Any] = {"bench": "fanout_cost_email", "subscribers": args.subscribers, "shards": args.shards,
                            "aws_calls": total, "floor": floor, "ratio": round(total / floor, 3), "target": "<= 1.2",
                            "calls_by_operation": dict(sorted(calls.items())), "index_bytes": index_bytes,
                            "seconds_on_emulator": round(seconds, 2), "load1": round(os.getloadavg()[0], 2)}
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
