"""What the two floor benches (webhook_vs_floor, email_vs_floor) share.

- The emulator and the webhook receiver each run in a process of their own
  (`moto_process.py`, `receiver_process.py`), so their CPU is read apart
  from the bench's (/proc/<pid>/stat) and neither holds the bench's GIL.
- Every AWS client of a bench is made here and metered: a botocore
  `before-call` hook counts API calls by operation into the phase that is
  running (phases never overlap), `before-send` counts HTTP attempts (a
  difference is a retry). The default session is metered too, so a client
  the code under test made for itself is counted rather than missed.
- `GroupCommit`: the floors' outcomes, BatchWriteItem of up to 25 items,
  each writer returning only once its own item is written.
- `StubSqs`: the sender's SQS client. Everything delivered needs no SQS
  call; any call it records voids the figure.

This directory is not one of `bench/*.py`, so `make bench` does not run it.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REGION = "us-east-1"
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# One config for every client of both sides: a pool as large as anything in
# flight (no connection is dialled anew mid-run), at most one retry.
CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=64,
                       connect_timeout=5, read_timeout=60)
BATCH_WRITE_ITEMS = 25
TICKS = os.sysconf("SC_CLK_TCK")


# --- the child processes --------------------------------------------------------

class Child:
    """A helper process that prints its URL first and lives until its stdin closes."""

    def __init__(self, script: str, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, str(HERE / script), *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.close()
            raise RuntimeError(f"{script} did not start (printed {self.url!r})")

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the process, all its threads, from /proc/<pid>/stat."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=300) as reply:
            return json.loads(reply.read())

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- metered clients --------------------------------------------------------------

@dataclass
class Meter:
    """AWS API calls (by operation) and HTTP attempts of the phase that is running."""

    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    sends: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_call(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.calls[model.name] += 1

    def on_send(self, **_: Any) -> None:
        with self.lock:
            self.sends += 1

    def take(self) -> tuple[dict[str, int], int]:
        """What was counted since the last take, and start afresh."""
        with self.lock:
            calls, sends = dict(self.calls), self.sends
            self.calls.clear()
            self.sends = 0
        return calls, sends

    def attach(self, events: Any) -> None:
        events.register("before-call", self.on_call)
        events.register("before-send", self.on_send)


class Emulated:
    """The emulator process and metered clients of it; also points this
    process's environment (the default session) at it, metered as well."""

    def __init__(self) -> None:
        self.moto = Child("moto_process.py")
        self.meter = Meter()
        os.environ.update({"AWS_ENDPOINT_URL": self.moto.url, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        boto3.setup_default_session(region_name=REGION, **FAKE_CREDENTIALS)
        assert boto3.DEFAULT_SESSION is not None
        self.meter.attach(boto3.DEFAULT_SESSION.events)

    def client(self, service: str) -> Any:
        # A session per client: sessions are not thread-safe, clients are.
        session = boto3.session.Session(region_name=REGION, **FAKE_CREDENTIALS)
        client = session.client(service, endpoint_url=self.moto.url, config=CLIENT_CONFIG)
        self.meter.attach(client.meta.events)
        return client

    def close(self) -> None:
        self.moto.close()


def create_status_table(db: Any, name: str) -> None:
    """The template's StatusTable (keys, indexes, stream, TTL), read from template.yaml
    with the local stack's CloudFormation loader."""
    from status_fanout_local.template import load_template

    props = load_template(ROOT / "template.yaml")["Resources"]["StatusTable"]["Properties"]
    args: dict[str, Any] = {"TableName": name, "AttributeDefinitions": props["AttributeDefinitions"],
                            "KeySchema": props["KeySchema"], "BillingMode": props["BillingMode"]}
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = [{k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
                                          for index in props["GlobalSecondaryIndexes"]]
    if props.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True,
                                       "StreamViewType": props["StreamSpecification"]["StreamViewType"]}
    db.create_table(**args)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        db.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": True})


class StubSqs:
    """The sender's SQS: records each call and does nothing. Nothing is
    retried or dead-lettered when every delivery succeeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __getattr__(self, operation: str) -> Callable[..., dict[str, Any]]:
        def call(**kwargs: Any) -> dict[str, Any]:
            with self.lock:
                self.calls.append((operation, kwargs))
            return {}

        return call

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


# --- the floors' own DynamoDB code ----------------------------------------------------

def batch_get(db: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items at `keys` (≤ 100), strongly consistent, in one BatchGetItem
    (more only if DynamoDB leaves keys unprocessed)."""
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    while request:
        reply = db.batch_get_item(RequestItems=request)
        found += reply.get("Responses", {}).get(table, [])
        request = reply.get("UnprocessedKeys") or {}
    return found


class GroupCommit:
    """A small shared commit buffer: a writer appends its item and waits. One
    waiting writer at a time becomes the leader and writes what is pending,
    up to 25 items, in one BatchWriteItem; everyone whose item it wrote
    returns. Items arriving meanwhile go out in the next write."""

    def __init__(self, db: Any, table: str) -> None:
        self.db, self.table = db, table
        self.pending: list[list[Any]] = []  # [item, None | "written" | exception]
        self.writing = False
        self.cond = threading.Condition()

    def put(self, item: dict[str, Any]) -> None:
        entry: list[Any] = [item, None]
        with self.cond:
            self.pending.append(entry)
            while entry[1] is None:
                if self.writing:
                    self.cond.wait()
                    continue
                self.writing = True
                batch, self.pending = self.pending[:BATCH_WRITE_ITEMS], self.pending[BATCH_WRITE_ITEMS:]
                self.cond.release()
                outcome: Any = "written"
                try:
                    self._write([e[0] for e in batch])
                except Exception as exc:
                    outcome = exc
                finally:
                    self.cond.acquire()
                    for e in batch:
                        e[1] = outcome
                    self.writing = False
                    self.cond.notify_all()
        if entry[1] != "written":
            raise entry[1]

    def _write(self, items: list[dict[str, Any]]) -> None:
        request: dict[str, Any] = {self.table: [{"PutRequest": {"Item": item}} for item in items]}
        while request:
            request = self.db.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


# --- one measured phase --------------------------------------------------------------

@dataclass
class Phase:
    side: str
    deliveries: int
    seconds: float
    cpu: dict[str, float]           # process → CPU seconds during the phase
    calls: dict[str, int]           # AWS operation → calls
    http_attempts: int
    void: list[str] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.deliveries / self.seconds


class Profiler:
    """py-spy on this process and the emulator during each measured phase
    (`--py-spy DIR`): raw collapsed stacks of the threads holding the GIL, so
    roughly where each process spends its CPU, one file per process and
    phase (`DIR/<label>-<process>.txt`). `stacks.py DIR` sums them up."""

    def __init__(self, directory: str | None) -> None:
        self.directory = Path(directory) if directory else None
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, label: str, pids: Mapping[str, int]) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).with_name("py-spy")
        for name, pid in pids.items():
            self.running.append(subprocess.Popen(
                [str(spy), "record", "--gil", "--nonblocking", "--format", "raw", "--rate", "50", "--pid", str(pid),
                 "--output", str(self.directory / f"{label}-{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)  # attached before the phase starts

    def stop(self) -> None:
        for spy in self.running:
            spy.send_signal(signal.SIGINT)
        for spy in self.running:
            spy.wait(timeout=60)
        self.running = []


PROFILER = Profiler(None)


def profile_to(directory: str | None) -> None:
    """Record py-spy stacks of every measured phase into `directory` (None: don't)."""
    PROFILER.directory = Path(directory) if directory else None


def run_phase(side: str, deliveries: int, emulated: Emulated, others: Mapping[str, Child],
              work: Callable[[], float], label: str = "") -> Phase:
    """Run `work` (which returns the seconds it measured) with the CPU of this
    process, the emulator and `others` read around it, and the AWS calls counted."""
    emulated.meter.take()
    children = {"moto": emulated.moto, **others}
    PROFILER.start(label or side, {"bench": os.getpid(), "moto": emulated.moto.pid})
    before = {name: child.cpu_seconds() for name, child in children.items()}
    cpu = time.process_time()
    try:
        seconds = work()
        used = {"bench": time.process_time() - cpu}
        used |= {name: child.cpu_seconds() - before[name] for name, child in children.items()}
    finally:
        PROFILER.stop()
    calls, sends = emulated.meter.take()
    return Phase(side, deliveries, seconds, used, calls, sends)


def summary(phases: list[Phase]) -> dict[str, Any]:
    """One side's figures over its rounds: median rate, and CPU and AWS
    requests per delivery over all its rounds together."""
    total = sum(p.deliveries for p in phases)
    calls: collections.Counter[str] = collections.Counter()
    for p in phases:
        calls.update(p.calls)
    cpu = {name: round(sum(p.cpu[name] for p in phases) / total * 1000, 2) for name in phases[0].cpu}
    return {
        "per_s": round(statistics.median(p.per_s for p in phases), 1),
        "rounds_per_s": [round(p.per_s, 1) for p in phases],
        "cpu_ms_per_delivery": cpu,
        "aws_requests_per_delivery": round(sum(calls.values()) / total, 3),
        "aws_requests_per_delivery_by_operation": {op: round(n / total, 3) for op, n in sorted(calls.items())},
        "aws_http_retries": sum(p.http_attempts for p in phases) - sum(calls.values()),
    }


def compare(bench: str, senders: list[Phase], floors: list[Phase], target: str,
            started: tuple[str, float], void: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The figure: both rates (medians), the ratio (median of the rounds'
    sender/floor ratios), each side's costs, load and time; void if any
    phase was, or for `void`'s reasons."""
    ratios = [s.per_s / f.per_s for s, f in zip(senders, floors, strict=True)]
    void = [*(void or []), *(f"{p.side} round {n + 1}: {reason}" for phases in (senders, floors)
                             for n, p in enumerate(phases) for reason in p.void)]
    sender, floor = summary(senders), summary(floors)
    figure: dict[str, Any] = {
        "bench": bench, **extra, "rounds": len(senders),
        "ratio": round(statistics.median(ratios), 3), "target": target,
        "sender_per_s": sender["per_s"], "floor_per_s": floor["per_s"],
        "round_ratios": [round(r, 3) for r in ratios],
        "sender": sender, "floor": floor,
        "load1": [started[1], round(os.getloadavg()[0], 2)],
        "started": started[0], "finished": now_text(),
    }
    if void:
        figure["void"] = "; ".join(void[:10]) + (f"; and {len(void) - 10} more" if len(void) > 10 else "")
    return figure


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_mark() -> tuple[str, float]:
    return now_text(), round(os.getloadavg()[0], 2)


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def sqs_record(n: int, job: Mapping[str, Any]) -> dict[str, Any]:
    """A delivery job as Lambda's SQS trigger hands it over, on its first receive."""
    return {"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": json.dumps(job, separators=(",", ":")),
            "attributes": {"ApproximateReceiveCount": "1"}}
