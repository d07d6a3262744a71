"""uptime_render: the publisher's full render against its incremental render
after one component status change, with 90 days of status history.

Against the local stack's emulator (moto server with the local stack's fixes,
in its own process: bench/floorkit), the table from template.yaml and a
bucket. Two corpora, one after the other, each in a fresh emulator:

- synthetic: 50 components, 90+ days of status history each (a seeded mix of
  degraded / partial / major spells, 0-25 per component, minutes to a day
  long), written as the store writes history items (`CSH#{component}`), no
  incidents;
- githubstatus: the corpus in data/githubstatus-incidents/ replayed as a
  backfill with the repo's replay tooling (`status_fanout_local.replay.read_plans`,
  posted as its `replay_incident` posts them, but through `StatusService`
  in this process, not the API handler: the API path costs ~1 update/s on the
  emulator, docs/benchmarks.md `ingest`). Every display time is shifted so
  the newest update lands an hour ago: the 90-day window then holds the
  corpus' last 90 days, as it would on a page running today.

Then, interleaved for --rounds rounds (medians reported):

- full: `Publisher.publish_all()` (walks both indexes, renders everything);
- incremental: one component's status changes (`StatusService.patch_component`,
  alternating partial_outage / operational on a rotating component), the
  records that write put on the table's stream are read back from the
  emulator's stream (DynamoDB Streams API), and
  `Publisher.publish(RenderPlan.from_stream_records(records))` renders, on a
  new `Publisher` (a fresh container: no rollup held from an earlier render);
- incremental-warm: another component's status changes, rendered the same way
  by the publisher that ran the full render (a warm container: it holds the
  rollups it made, and reads those the fresh one moved since);
- floor: the incremental plan's artifacts rendered from a state already read
  and each put once (no read, no HEAD): what a status change forces whatever
  the reads cost (`floor_share_of_full`).

Per render: wall seconds, CPU seconds of the bench process (the emulator's
CPU is in its own process, reported apart), DynamoDB calls by operation
(botocore `before-call`), S3 calls, artifacts rendered and written, bytes
written. `incremental_share_of_full` is incremental / full for wall and CPU
and incremental-warm / full (goal: <= 0.10). `os.getloadavg()` goes with every line. No timing is asserted.

Usage:
    .venv/bin/python bench/uptime_render.py [--rounds N] [--limit N] [--skip-synthetic] [--skip-corpus]
                                            [--profile DIR]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import functools
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from floorkit import Emulated, create_status_table  # noqa: E402

from status_fanout.incidents.models import (  # noqa: E402
    ComponentPatch,
    ComponentPut,
    IncidentCreate,
    PostmortemPut,
    UpdateCreate,
)
from status_fanout.incidents.service import StatusService  # noqa: E402
from status_fanout.incidents.store import IncidentStore, StatusChange  # noqa: E402
from status_fanout.publishing import feeds  # noqa: E402
from status_fanout.publishing.publisher import WRITERS, Publisher, RenderPlan, SiteState, render  # noqa: E402
from status_fanout.settings import PageSettings, Settings  # noqa: E402
from status_fanout.timefmt import format_ts, parse_ts, utcnow  # noqa: E402
from status_fanout_local.replay import IncidentPlan, read_plans  # noqa: E402

DEFAULT_DATA = ROOT / "data" / "githubstatus-incidents"
TABLE = "bench-uptime"
BUCKET = "bench-uptime-public"
COMPONENTS = 50
HISTORY_DAYS = 95  # a little more than the window: the status the window starts with comes from before it
OUT = sys.stdout  # the figures; logs go to stderr
STATUSES = ("degraded_performance", "partial_outage", "major_outage")


def emit(corpus: str, figure: str, value: Any, **extra: Any) -> None:
    load = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({"bench": "uptime_render", "corpus": corpus, "figure": figure, "value": value, **extra,
                      "loadavg": load}), file=OUT, flush=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class MeteredPublisher(Publisher):
    """The publisher, counting the bytes of the objects it writes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bytes_written = 0
        self.lock = threading.Lock()

    def write(self, key: str, body: bytes, content_type: str, moved: bool = False) -> bool:
        written = super().write(key, body, content_type, moved)
        if written:
            with self.lock:
                self.bytes_written += len(body)
        return written


class Stream:
    """The table's stream as the publisher's event source reads it: every
    shard, from where the last read stopped."""

    def __init__(self, emulated: Emulated, db: Any) -> None:
        self.client = emulated.client("dynamodbstreams")
        self.arn = db.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        self.iterators: dict[str, str] = {}

    def read(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for shard in self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            iterator = self.iterators.get(shard_id) or self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while iterator:
                reply = self.client.get_records(ShardIterator=iterator, Limit=1000)
                records += reply["Records"]
                iterator = reply.get("NextShardIterator")
                self.iterators[shard_id] = iterator
                if not reply["Records"]:
                    break
        return records


class Bench:
    def __init__(self, corpus: str, profile: Path | None) -> None:
        self.corpus = corpus
        self.profile = profile
        self.emulated = Emulated()
        self.db = self.emulated.client("dynamodb")
        self.s3 = self.emulated.client("s3")
        create_status_table(self.db, TABLE)
        self.s3.create_bucket(Bucket=BUCKET)
        self.settings = Settings(table_name=TABLE, public_bucket=BUCKET,
                                 page=PageSettings(name="Bench", url="https://status.example.com",
                                                   time_zone="America/New_York"))
        self.store = IncidentStore(TABLE, self.db)
        self.publisher = MeteredPublisher(self.store, self.settings, self.s3)
        self.stream = Stream(self.emulated, self.db)

    def close(self) -> None:
        self.emulated.close()

    def service(self, clock: Callable[[], datetime] = utcnow) -> StatusService:
        return StatusService(self.store, clock=clock)

    # --- one measured render ------------------------------------------------------------

    def measure(self, label: str, action: Callable[[], dict[str, bool]],
                publisher: MeteredPublisher | None = None) -> dict[str, Any]:
        publisher = publisher or self.publisher
        self.emulated.meter.take()
        publisher.bytes_written = 0
        feeds.clear_cache()  # no feed entries cached, in a fresh container or not
        moto_cpu = self.emulated.moto.cpu_seconds()
        profiler = cProfile.Profile() if self.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = action()
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profiler and self.profile:
            self.profile.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(self.profile / f"{self.corpus}-{label}.prof")
        calls, _ = self.emulated.meter.take()
        dynamo = {k: v for k, v in calls.items() if k in DYNAMO_OPERATIONS}
        s3 = {k: v for k, v in calls.items() if k not in DYNAMO_OPERATIONS}
        return {"wall": wall, "cpu": cpu, "emulator_cpu": self.emulated.moto.cpu_seconds() - moto_cpu,
                "dynamodb_calls": sum(dynamo.values()), "dynamodb_by_operation": dynamo,
                "s3_calls": sum(s3.values()), "artifacts": len(result), "written": sum(result.values()),
                "bytes_written": publisher.bytes_written}

    def change(self, round_number: int, components: list[str]) -> RenderPlan:
        """One component's status moves; the plan its stream records make."""
        self.stream.read()  # whatever came before is not this change's
        component_id = components[(round_number * 7) % len(components)]
        current = {c.id: c for c in self.store.list_components()}[component_id]
        status = "operational" if current.status != "operational" else "partial_outage"
        self.service().patch_component(component_id, ComponentPatch(status=status))  # type: ignore[arg-type]
        records = self.stream.read()
        plan = RenderPlan.from_stream_records(records)
        if not plan.changed_component_ids == {component_id}:
            raise RuntimeError(f"stream records of one change made {plan}")
        return plan

    def run(self, rounds: int) -> None:
        components = [c.id for c in self.store.list_components()]
        self.publisher.publish_all()  # the deploy-time render: the bucket holds the page before the rounds
        full_runs: list[dict[str, Any]] = []
        incremental_runs: list[dict[str, Any]] = []
        warm_runs: list[dict[str, Any]] = []
        floor_runs: list[dict[str, Any]] = []
        for n in range(rounds):
            # Interleaved: full, then a change and its incremental render in a fresh container (a new
            # publisher: nothing kept from an earlier render), then another change rendered by the
            # container that ran the full render (the rollups it made are kept), round after round.
            full_runs.append(self.measure("full", self.publisher.publish_all))
            plan = self.change(2 * n, components)
            fresh = MeteredPublisher(self.store, self.settings, self.s3)
            incremental_runs.append(self.measure("incremental", functools.partial(fresh.publish, plan), fresh))
            plan = self.change(2 * n + 1, components)
            warm_runs.append(self.measure("incremental-warm", functools.partial(self.publisher.publish, plan)))
            # The floor one status change forces: the same artifacts rendered from a state already
            # in memory and each put once, no read at all (the reads are what rollups can save).
            state = self.publisher.load_state(plan)
            floor_runs.append(self.measure("floor", functools.partial(self.render_and_put, plan, state)))
            log(f"{self.corpus} round {n + 1}/{rounds}: full {full_runs[-1]['wall']:.2f} s, "
                f"incremental {incremental_runs[-1]['wall']:.2f} s (warm {warm_runs[-1]['wall']:.2f} s), "
                f"floor {floor_runs[-1]['wall']:.2f} s")
        full, incremental, floor = summary(full_runs), summary(incremental_runs), summary(floor_runs)
        warm = summary(warm_runs)
        emit(self.corpus, "full_render", round(full["wall"], 3), unit="s", rounds=rounds, **rounded(full))
        emit(self.corpus, "incremental_render", round(incremental["wall"], 3), unit="s", rounds=rounds,
             **rounded(incremental))
        emit(self.corpus, "incremental_share_of_full", round(incremental["cpu"] / full["cpu"], 3), target=0.10,
             wall=round(incremental["wall"] / full["wall"], 3), cpu=round(incremental["cpu"] / full["cpu"], 3),
             dynamodb_calls=round(incremental["dynamodb_calls"] / full["dynamodb_calls"], 3),
             within_target=incremental["cpu"] / full["cpu"] <= 0.10)
        emit(self.corpus, "incremental_warm_render", round(warm["wall"], 3), unit="s", rounds=rounds,
             **rounded(warm))
        emit(self.corpus, "incremental_warm_share_of_full", round(warm["cpu"] / full["cpu"], 3), target=0.10,
             wall=round(warm["wall"] / full["wall"], 3), cpu=round(warm["cpu"] / full["cpu"], 3),
             dynamodb_calls=round(warm["dynamodb_calls"] / full["dynamodb_calls"], 3),
             within_target=warm["cpu"] / full["cpu"] <= 0.10)
        emit(self.corpus, "floor_render", round(floor["wall"], 3), unit="s", rounds=rounds, **rounded(floor))
        emit(self.corpus, "floor_share_of_full", round(floor["cpu"] / full["cpu"], 3),
             wall=round(floor["wall"] / full["wall"], 3), cpu=round(floor["cpu"] / full["cpu"], 3))

    def render_and_put(self, plan: RenderPlan, state: SiteState) -> dict[str, bool]:
        artifacts = render(plan, state, self.settings)
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            list(pool.map(lambda item: self.s3.put_object(Bucket=BUCKET, Key=item[0], Body=item[1].body,
                                                          ContentType=item[1].content_type), artifacts.items()))
        self.publisher.bytes_written += sum(len(a.body) for a in artifacts.values())
        return dict.fromkeys(artifacts, True)


DYNAMO_OPERATIONS = {"Query", "GetItem", "BatchGetItem", "PutItem", "TransactWriteItems", "BatchWriteItem",
                     "DeleteItem", "UpdateItem", "Scan", "DescribeTable"}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric figures; the per-operation calls of the median run."""
    out: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "dynamodb_by_operation"}
    out["dynamodb_by_operation"] = sorted(runs, key=lambda r: r["dynamodb_calls"])[len(runs) // 2][
        "dynamodb_by_operation"]
    return out


def rounded(figures: dict[str, Any]) -> dict[str, Any]:
    names = {"wall": "wall_seconds", "cpu": "cpu_seconds", "emulator_cpu": "emulator_cpu_seconds"}
    return {names.get(k, k): round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


# --- the synthetic corpus ----------------------------------------------------------------

def seed_synthetic(bench: Bench, now: datetime) -> int:
    created = now - timedelta(days=HISTORY_DAYS)
    service = bench.service(clock=lambda: created)
    for n in range(COMPONENTS):
        service.put_component(f"comp{n:02d}", ComponentPut(name=f"Component {n:02d}", position=n + 1))
    rng = random.Random(14)
    items: list[dict[str, Any]] = []
    for n in range(COMPONENTS):
        component_id = f"comp{n:02d}"
        spells = rng.choice((0, 2, 5, 8, 12, 25))
        for s in range(spells):
            start = created + timedelta(seconds=rng.uniform(0, HISTORY_DAYS * 86400 - 90000))
            length = timedelta(minutes=rng.choice((5, 20, 45, 90, 240, 1440)))
            steps = [(start, rng.choice(STATUSES))]
            if rng.random() < 0.4:  # an escalation halfway
                steps.append((start + length / 2, "major_outage"))
            steps.append((start + length, "operational"))
            for k, (when, status) in enumerate(steps):
                change = StatusChange(component_id, format_ts(when), status, "backfill", f"seed{n:02d}{s:03d}{k}")
                items.append(bench.store._history_put(change)["Put"]["Item"])
    for first in range(0, len(items), 25):
        request: dict[str, Any] = {TABLE: [{"PutRequest": {"Item": i}} for i in items[first:first + 25]]}
        while request:
            request = bench.db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return len(items)


# --- the githubstatus corpus, as a backfill --------------------------------------------------

def shifted(plans: list[IncidentPlan], now: datetime) -> Iterator[IncidentPlan]:
    """The plans with every display time moved so the newest is an hour before now."""
    stamps = [u["display_at"] for p in plans for u in p.updates if "display_at" in u]
    stamps += [p.postmortem["display_at"] for p in plans if p.postmortem and "display_at" in p.postmortem]
    delta = (now - timedelta(hours=1)) - parse_ts(max(stamps))
    for plan in plans:
        updates = [{**u, "display_at": format_ts(parse_ts(u["display_at"]) + delta)} for u in plan.updates]
        postmortem = plan.postmortem and {**plan.postmortem,
                                          "display_at": format_ts(parse_ts(plan.postmortem["display_at"]) + delta)}
        yield IncidentPlan(plan.source_id, plan.name, plan.impact, updates, postmortem, plan.components)


def replay_corpus(bench: Bench, plans: list[IncidentPlan], now: datetime) -> int:
    """`replay_incident`'s calls, made on the service the API routes call."""
    first_stamp = min(parse_ts(p.updates[0]["display_at"]) for p in plans)
    components: dict[str, dict[str, Any]] = {}
    for plan in plans:
        for component_id, body in plan.components.items():
            components.setdefault(component_id, body)
    creator = bench.service(clock=lambda: first_stamp - timedelta(days=1))
    for component_id, body in components.items():
        creator.put_component(component_id, ComponentPut.model_validate_json(json.dumps(body)))
    service = bench.service()
    writes = 0
    for index, plan in enumerate(plans, start=1):
        first, *rest = plan.updates
        create = {"name": plan.name, **first, **({"impact": plan.impact} if plan.impact else {})}
        incident, _ = service.create_incident(IncidentCreate.model_validate_json(json.dumps(create)))
        for update in rest:
            service.add_update(incident.id, UpdateCreate.model_validate_json(json.dumps(update)))
        if plan.postmortem:
            service.publish_postmortem(incident.id, PostmortemPut.model_validate_json(json.dumps(plan.postmortem)))
        writes += len(plan.updates) + bool(plan.postmortem)
        if index % 100 == 0:
            log(f"replayed {index}/{len(plans)} incidents")
    return writes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="replay only the newest N incidents of the corpus")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of every render into DIR")
    args = parser.parse_args()
    now = datetime.now(UTC)

    if not args.skip_synthetic:
        bench = Bench("synthetic", args.profile)
        try:
            started = time.perf_counter()
            changes = seed_synthetic(bench, now)
            emit("synthetic", "seeded", changes, unit="status changes", components=COMPONENTS,
                 days=HISTORY_DAYS, seconds=round(time.perf_counter() - started, 2))
            bench.run(args.rounds)
        finally:
            bench.close()

    if not args.skip_corpus:
        plans = [plan for plan in read_plans(args.data) if plan.updates]  # oldest first
        if args.limit is not None:
            plans = plans[-args.limit:]
        plans = list(shifted(plans, now))
        bench = Bench("githubstatus", args.profile)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            writes = replay_corpus(bench, plans, now)
            history = collections.Counter(
                c.component_id for cid in {c.id for c in bench.store.list_components()}
                for c in bench.store.component_history(cid, "0"))
            emit("githubstatus", "replayed", len(plans), unit="incidents", of=len(read_plans(args.data)),
                 writes=writes, components=len(bench.store.list_components()),
                 status_changes=sum(history.values()), seconds=round(time.perf_counter() - started, 1),
                 cpu_seconds=round(time.process_time() - cpu, 1))
            bench.run(args.rounds)
        finally:
            bench.close()
    return 0


if __name__ == "__main__":
    # The service and publisher log on stdout (Lambda style): stdout is kept for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        code = main()
    sys.exit(code)
