"""fanout_cost: the AWS calls the planner makes for one update to N webhook
subscribers, against the floor ceil(N/10) SendMessageBatch calls plus one
query page per MB of subscriber index.

Runs the real Planner against moto server (the table built from
template.yaml by the local stack), with N endpoints in the subscriber index,
and counts every AWS API call the planner's clients make with botocore's
event hooks: the stream side (snapshot reads and write, planning jobs) and
every shard's planning job. One JSON line per figure.

Usage: .venv/bin/python bench/fanout_cost.py [--subscribers N] [--shards S] [--components C]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _main() -> list[dict[str, Any]] | None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--components", type=int, default=1, help="components the update touches")
    args = parser.parse_args()

    from status_fanout.api.auth import hash_token
    from status_fanout.delivery.planner import EventRef, Planner
    from status_fanout.delivery.subscriber_index import SubscriberIndex, index_pk, shard_of
    from status_fanout.dynamo import to_item
    from status_fanout.incidents.models import ComponentPut, IncidentCreate
    from status_fanout.incidents.service import StatusService
    from status_fanout.incidents.store import IncidentStore
    from status_fanout.settings import Settings
    from status_fanout_local.stack import LocalStack

    env = {"FANOUT_SHARDS": str(args.shards)}
    # The handlers' logs and metrics go to stdout; keep it for the figures.
    parameters = {"StaffTokenSha256": hash_token("bench")}
    with LocalStack(ROOT, parameters=parameters, env=env) as stack:
        table = stack.physical["StatusTable"]
        ddb = boto3.client("dynamodb")
        # N subscribers of everything, in the index exactly as the API writes them.
        items = [{"PutRequest": {"Item": to_item({
            "pk": index_pk("webhook", "all", shard_of(f"hook{n:06d}", args.shards)), "sk": f"hook{n:06d}",
            "type": "subscription", "channel": "webhook", "events": []})}} for n in range(args.subscribers)]
        for start in range(0, len(items), 25):
            ddb.batch_write_item(RequestItems={table: items[start:start + 25]})
        index_bytes = sum(len(json.dumps(i["PutRequest"]["Item"])) for i in items)

        service = StatusService(IncidentStore(table, ddb))
        components: dict[str, Any] = {f"c{n}": "major_outage" for n in range(args.components)}
        for cid in components:
            service.put_component(cid, ComponentPut(name=cid))
        # notify: false, so the stack's own fan-out leaves this one to the benchmark.
        incident, _ = service.create_incident(IncidentCreate(name="bench", status="investigating", body="b",
                                                             components=components, notify=False))
        stack.wait_idle(timeout=60)
        stack.stop_pollers()  # the planner's calls alone, on a quiet emulator

        sink = boto3.client("sqs").create_queue(QueueName="fanout-cost-sink")["QueueUrl"]
        settings = Settings.from_env()
        settings = settings.model_copy(update={
            "webhook": settings.webhook.model_copy(update={"queue_url": sink}),
            "fanout": settings.fanout.model_copy(update={"plan_queue_url": sink, "shards": args.shards})})
        calls: collections.Counter[str] = collections.Counter()
        counted_ddb, counted_sqs = boto3.client("dynamodb"), boto3.client("sqs")
        for client in (counted_ddb, counted_sqs):
            client.meta.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
        store = IncidentStore(table, counted_ddb)
        planner = Planner(store, SubscriberIndex(store), settings, sqs=counted_sqs)

        started = time.perf_counter()
        event = planner.snapshot(EventRef("update", incident_id=incident.id, update_seq=1))
        assert event is not None
        buckets = ["all", *(f"c:{c}" for c in event.component_ids)]
        jobs = [{"event_id": event.id, "event_type": event.type, "occurred_at": event.occurred_at,
                 "component_ids": event.component_ids, "channel": "webhook", "shard": shard, "buckets": buckets}
                for shard in range(args.shards)]
        planner.send(sink, jobs)  # what plan_event does, into the sink instead of the plan queue
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
    line: dict[str, Any] = {"bench": "fanout_cost", "subscribers": args.subscribers, "shards": args.shards,
                            "components_touched": args.components, "aws_calls": total, "floor": floor,
                            "ratio": round(total / floor, 3), "calls_by_operation": dict(sorted(calls.items())),
                            "index_bytes": index_bytes, "seconds_on_emulator": round(seconds, 2)}
    return [line]


def main() -> None:
    # The handlers' logs and metrics go to stdout: send them to stderr before
    # anything creates a logger, and keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main() or []
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
