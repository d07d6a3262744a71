"""webhook_hops: where the time goes between the API's 201 and a webhook
receiver, hop by hop, on the local stack; and when failed deliveries are
retried.

Two scenarios, each on its own fresh local stack with the template's
settings (16 shards, both channels) unless flags say otherwise:

- `seed`: four endpoints (two standard, two Statuspage-shaped), then the
  seed incident's seven live updates (six updates and the postmortem)
  posted one after the other as `status-fanout replay --live` posts them.
- `retry`: seven endpoints answering 503 to their first request and 200
  after, one live update; WEBHOOK_RETRY_SCALE scales the retry schedule.

The handlers are the real ones. Every invocation is timed by wrapping the
local runtime's `invoke` (this script only; nothing deployed changes), and
each record's own timestamps (a stream record's creation time, an SQS
message's SentTimestamp and receive count) say how long it waited before it.

Usage: .venv/bin/python bench/webhook_hops.py [seed|retry|idle|both] [--shards N] [--scale X]
           [--sqs-concurrency N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "events" / "seed" / "mail-platform-outage.json"
TOKEN = "sf_bench-hops-token"  # noqa: S105 - a local throwaway token


class Clock:
    """Wall-clock seconds since the scenario started (SQS and stream timestamps are wall clock)."""

    def __init__(self) -> None:
        self.zero = time.time()

    def __call__(self, at: float | None = None) -> float:
        return round((time.time() if at is None else at) - self.zero, 3)


class Recorder:
    """Every invocation of every function: when it started and ended, and
    how long its records had waited before it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.invocations: list[dict[str, Any]] = []

    def wrap(self, original: Any) -> Any:
        recorder = self

        def invoke(runtime: Any, logical_id: str, event: Any) -> Any:
            started, cpu = time.time(), time.thread_time()
            try:
                return original(runtime, logical_id, event)
            finally:
                ended = time.time()
                recorder.add(logical_id, event, started, ended, time.thread_time() - cpu)

        return invoke

    def add(self, function: str, event: Any, started: float, ended: float, cpu: float) -> None:
        records = event.get("Records") if isinstance(event, dict) else None
        entry: dict[str, Any] = {"function": function, "start": self.clock(started), "end": self.clock(ended),
                                 "records": len(records or []), "cpu": round(cpu, 4)}
        if records and records[0].get("eventSource") == "aws:sqs":
            entry["source"] = records[0]["eventSourceARN"].rsplit(":", 1)[-1]
            sent = [int(r["attributes"].get("SentTimestamp", 0)) / 1000 for r in records]
            entry["waited"] = [round(started - s, 3) for s in sent]
            entry["receives"] = [int(r["attributes"].get("ApproximateReceiveCount", 1)) for r in records]
            entry["bodies"] = [json.loads(r["body"]) for r in records]
        elif records and records[0].get("eventSource") == "aws:dynamodb":
            entry["source"] = "stream"
            created = [float(r["dynamodb"]["ApproximateCreationDateTime"]) for r in records]
            entry["waited"] = [round(started - c, 3) for c in created]
            entry["keys"] = [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]
        else:
            entry["source"] = "api"
        with self.lock:
            self.invocations.append(entry)


MOTO_OPERATIONS = {
    "moto.dynamodb.models:DynamoDBBackend": (
        "put_item", "update_item", "delete_item", "get_item", "query", "scan", "batch_write_item",
        "batch_get_item", "transact_write_items"),
    "moto.sqs.models:SQSBackend": (
        "send_message", "send_message_batch", "receive_message", "delete_message_batch",
        "change_message_visibility", "get_queue_attributes"),
}


class MotoMeter:
    """Calls and CPU seconds of moto's own DynamoDB and SQS operations (moto
    serves them on its threads in this process): the emulator's share of a hop."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self.saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        import importlib

        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        # Every request moto serves, by operation: its HTTP layer, parsing and
        # serialising included (the backend methods below are only the model).
        serve = DomainDispatcherApplication.__call__
        self.saved.append((DomainDispatcherApplication, "__call__", serve))
        meter = self

        def metered_request(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            label = "request " + (target.split(".")[-1] if target else f"S3 {environ.get('REQUEST_METHOD')}")
            if target.startswith("DynamoDB"):
                label = "request DynamoDB " + target.split(".")[-1]
            elif target.startswith("AmazonSQS"):
                label = "request SQS " + target.split(".")[-1]
            started = time.thread_time()
            try:
                return serve(app, environ, start_response)
            finally:
                spent = time.thread_time() - started
                with meter.lock:
                    entry = meter.calls[label]
                    entry[0] += 1
                    entry[1] += spent

        setattr(DomainDispatcherApplication, "__call__", metered_request)  # noqa: B010 - a bench-only patch

        for where, names in MOTO_OPERATIONS.items():
            module, _, cls_name = where.partition(":")
            cls = getattr(importlib.import_module(module), cls_name)
            for name in names:
                original = getattr(cls, name)
                self.saved.append((cls, name, original))
                setattr(cls, name, self._wrap(f"{cls_name.removesuffix('Backend')}.{name}", original))

    def _wrap(self, label: str, original: Any) -> Any:
        meter = self

        def metered(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                with meter.lock:
                    entry = meter.calls[label]
                    entry[0] += 1
                    entry[1] += spent

        return metered

    def uninstall(self) -> None:
        for cls, name, original in reversed(self.saved):
            setattr(cls, name, original)
        self.saved.clear()

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {label: {"calls": int(n), "cpu_s": round(cpu, 3)}
                    for label, (n, cpu) in sorted(self.calls.items(), key=lambda kv: -kv[1][1])}


class Receiver:
    """A loopback webhook receiver; each path answers 503 `fail` times first."""

    def __init__(self, clock: Clock, fail: int = 0) -> None:
        self.clock = clock
        self.fail = fail
        self.lock = threading.Lock()
        self.arrivals: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with receiver.lock:
                    n = sum(1 for a in receiver.arrivals if a["path"] == self.path) + 1
                    status = 503 if n <= receiver.fail else 200
                    receiver.arrivals.append({"path": self.path, "at": receiver.clock(), "status": status,
                                              "id": self.headers["webhook-id"], "body": body})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


def call(api: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api + path, data=data, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read() or b"{}"))


SQS_CONCURRENCY = 0  # --sqs-concurrency: pollers per queue without MaximumConcurrency (0: the stack's default)


def started_stack(env: dict[str, str], clock: Clock) -> tuple[Any, Recorder]:
    from status_fanout.api.auth import hash_token
    from status_fanout_local.pollers import DEFAULT_SQS_CONCURRENCY
    from status_fanout_local.runtime import Runtime
    from status_fanout_local.stack import LocalStack

    recorder = Recorder(clock)
    setattr(Runtime, "invoke", recorder.wrap(Runtime.invoke))  # noqa: B010 - a bench-only patch
    stack = LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(TOKEN)}, env=env,
                       sqs_concurrency=SQS_CONCURRENCY or DEFAULT_SQS_CONCURRENCY)
    stack.start()
    METER.install()
    return stack, recorder


METER = MotoMeter()


def _stop(stack: Any, original: Any) -> None:
    from status_fanout_local.runtime import Runtime

    METER.uninstall()
    stack.stop()
    setattr(Runtime, "invoke", original)  # noqa: B010


def wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def busy_seconds(invocations: list[dict[str, Any]], function: str, source: str | None = None) -> float:
    return round(sum(i["end"] - i["start"] for i in invocations
                     if i["function"] == function and (source is None or i.get("source") == source)), 3)


def summarise_waits(invocations: list[dict[str, Any]], function: str, source: str) -> dict[str, Any]:
    waits = [w for i in invocations if i["function"] == function and i.get("source") == source
             for w in i.get("waited", [])]
    runs = [i["end"] - i["start"] for i in invocations if i["function"] == function and i.get("source") == source]
    if not waits:
        return {}
    cpu = sum(i["cpu"] for i in invocations if i["function"] == function and i.get("source") == source)
    return {"invocations": len(runs), "records": len(waits),
            "wait_p50": round(statistics.median(waits), 3), "wait_max": round(max(waits), 3),
            "run_p50": round(statistics.median(runs), 3), "run_max": round(max(runs), 3),
            "busy_seconds": round(sum(runs), 3), "handler_thread_cpu_s": round(cpu, 3)}


# --- scenarios -------------------------------------------------------------------

def seed(shards: int) -> list[dict[str, Any]]:
    from status_fanout_local.replay import ensure_components, http_sender, read_plans
    from status_fanout_local.runtime import Runtime

    clock = Clock()
    original = Runtime.invoke
    receiver = Receiver(clock)
    env = {"FANOUT_SHARDS": str(shards)} if shards else {}
    stack, recorder = started_stack(env, clock)
    lines: list[dict[str, Any]] = []
    try:
        for n, fmt in enumerate(("standard", "statuspage", "standard", "statuspage")):
            call(stack.api_url, "POST", "/v1/webhooks", {"url": f"{receiver.url}/e{n}", "format": fmt})
        [plan] = read_plans(SEED, live=True)
        ensure_components(http_sender(stack.api_url, TOKEN), [plan])
        stack.wait_idle(timeout=300)
        with recorder.lock:
            recorder.invocations.clear()
        METER.reset()
        cpu0 = time.process_time()
        posted: list[float] = []
        t0 = clock()
        first, *rest = plan.updates
        incident = call(stack.api_url, "POST", "/v1/incidents", {"name": plan.name, **first, "impact": "critical"})
        posted.append(clock())
        for update in rest:
            call(stack.api_url, "POST", f"/v1/incidents/{incident['id']}/updates", update)
            posted.append(clock())
        assert plan.postmortem is not None
        call(stack.api_url, "PUT", f"/v1/incidents/{incident['id']}/postmortem", plan.postmortem)
        posted.append(clock())
        expected = 4 * len(posted)
        reached = wait(lambda: receiver.count() >= expected, 600)
        last = max((a["at"] for a in receiver.arrivals), default=clock())
        cpu = time.process_time() - cpu0
        moto = METER.report()
        stack.wait_idle(timeout=300)
        invocations = list(recorder.invocations)
        # Each update's deliveries: by its sequence (standard) or order of arrival.
        per_update: dict[int, list[float]] = defaultdict(list)
        for a in receiver.arrivals:
            body = a["body"]
            if "type" in body:
                seq = body["data"]["sequence"]
                per_update[seq].append(a["at"])
        seqs = sorted(per_update)
        lines.append({"bench": "webhook_hops", "scenario": "seed", "shards": shards or 16,
                      "sqs_concurrency": SQS_CONCURRENCY or "default",
                      "endpoints": 4, "updates": len(posted), "received": receiver.count(),
                      "all_reached": reached,
                      "first_post_to_last_delivery_s": round(last - t0, 3),
                      "posting_s": round(posted[-1] - t0, 3),
                      "last_post_to_last_delivery_s": round(last - posted[-1], 3),
                      "process_cpu_s": round(cpu, 3), "load_1min": round(os.getloadavg()[0], 1),
                      "per_update_201_to_last_standard_delivery_s": [
                          round(max(per_update[s]) - posted[i], 3) for i, s in enumerate(seqs) if i < len(posted)]})
        for function, source in (("ApiFunction", "api"), ("PublisherFunction", "stream"),
                                 ("FanoutFunction", "stream"), ("FanoutFunction", None),
                                 ("WebhookSenderFunction", None), ("EmailSenderFunction", None)):
            if source is None:
                sources = sorted({i.get("source", "") for i in invocations if i["function"] == function} - {"stream"})
                for queue in sources:
                    lines.append({"bench": "webhook_hops", "scenario": "seed", "function": function,
                                  "source": queue, **summarise_waits(invocations, function, queue)})
            elif source == "api":
                runs = [i["end"] - i["start"] for i in invocations if i["function"] == function]
                lines.append({"bench": "webhook_hops", "scenario": "seed", "function": function, "source": "api",
                              "invocations": len(runs), "busy_seconds": round(sum(runs), 3),
                              "handler_thread_cpu_s": round(sum(i["cpu"] for i in invocations
                                                                if i["function"] == function), 3),
                              "run_p50": round(statistics.median(runs), 3) if runs else None})
            else:
                lines.append({"bench": "webhook_hops", "scenario": "seed", "function": function,
                              "source": source, **summarise_waits(invocations, function, source)})
        lines.append({"bench": "webhook_hops", "scenario": "seed", "moto_until_last_delivery": moto})
        plans = [i for i in invocations if i.get("source", "").lower().endswith("planqueue")]
        plan_jobs = [b for i in plans for b in i["bodies"]]
        lines.append({"bench": "webhook_hops", "scenario": "seed", "plan_jobs": len(plan_jobs),
                      "plan_jobs_webhook": sum(1 for b in plan_jobs if b.get("channel") == "webhook"),
                      "plan_jobs_email": sum(1 for b in plan_jobs if b.get("channel") == "email"),
                      "plan_job_seconds_mean": round(sum(i["end"] - i["start"] for i in plans) / len(plan_jobs), 3)
                      if plan_jobs else None,
                      "buckets_per_job": sorted({len(b["buckets"]) for b in plan_jobs})})
        # Per update, from its 201: its planning jobs enqueued (the stream hop:
        # batching, snapshot), its first and last planning job run (the plan
        # queue), its last delivery (the webhook queue and the sender).
        events = [f"upd:{incident['id']}:{n}" for n in range(1, len(posted))] + [f"pm:{incident['id']}"]
        for n, (event_id, at) in enumerate(zip(events, posted, strict=True)):
            mine = [(i, b, w) for i in plans for b, w in zip(i["bodies"], i["waited"], strict=True)
                    if b["event_id"] == event_id]
            if not mine:
                continue
            sent = [i["start"] - w for i, _, w in mine]
            sends = [i for i in invocations if i["function"] == "WebhookSenderFunction"
                     and any(b.get("event_id") == event_id for b in i["bodies"])]
            arrivals = [a["at"] for a in receiver.arrivals
                        if any(b.get("event_id") == event_id and b["delivery_id"] == a["id"]
                               for i in sends for b in i["bodies"])]
            lines.append({"bench": "webhook_hops", "scenario": "seed", "update": n + 1,
                          "plan_jobs_enqueued_s": [round(min(sent) - at, 3), round(max(sent) - at, 3)],
                          "plan_jobs_run_s": [round(min(i["start"] for i, _, _ in mine) - at, 3),
                                              round(max(i["end"] for i, _, _ in mine) - at, 3)],
                          "deliveries_s": [round(min(arrivals) - at, 3), round(max(arrivals) - at, 3)]
                          if arrivals else None})

        dump = ROOT / ".local" / "webhook_hops_seed.json"
        dump.parent.mkdir(parents=True, exist_ok=True)
        dump.write_text(json.dumps({"posted": posted, "arrivals": [{k: v for k, v in a.items() if k != "body"}
                                                                    for a in receiver.arrivals],
                                    "invocations": [{k: v for k, v in i.items() if k != "bodies"}
                                                    for i in invocations]}, indent=1))
    finally:
        _stop(stack, original)
        receiver.server.shutdown()
    return lines


def retry(shards: int, scale: str, endpoints: int = 7) -> list[dict[str, Any]]:
    from status_fanout_local.runtime import Runtime

    clock = Clock()
    original = Runtime.invoke
    receiver = Receiver(clock, fail=1)
    env = {"WEBHOOK_RETRY_SCALE": scale}
    if shards:
        env["FANOUT_SHARDS"] = str(shards)
    stack, recorder = started_stack(env, clock)
    lines: list[dict[str, Any]] = []
    try:
        for n in range(endpoints):
            call(stack.api_url, "POST", "/v1/webhooks", {"url": f"{receiver.url}/e{n}"})
        stack.wait_idle(timeout=120)
        with recorder.lock:
            recorder.invocations.clear()
        t0 = clock()
        call(stack.api_url, "POST", "/v1/incidents", {"name": "Retry", "status": "investigating", "body": "x"})
        posted = clock()
        reached = wait(lambda: receiver.count() >= 2 * endpoints, 120)
        stack.wait_idle(timeout=120)
        by_path: dict[str, list[float]] = defaultdict(list)
        for a in receiver.arrivals:
            by_path[a["path"]].append(a["at"])
        firsts = [times[0] for times in by_path.values()]
        gaps = [round(times[1] - times[0], 3) for times in by_path.values() if len(times) > 1]
        seconds = [times[1] for times in by_path.values() if len(times) > 1]
        sends = [i for i in recorder.invocations if i["function"] == "WebhookSenderFunction"]
        # Per delivery: its first attempt's arrival, then how long until that
        # invocation ended (the failed attempt's bookkeeping, the rest of its
        # batch), until the retry's invocation began (the message's hold plus
        # a poller's pickup and batching window), and until the retry arrived.
        hops = []
        for path, times in by_path.items():
            if len(times) < 2:
                continue
            [delivery_id] = {a["id"] for a in receiver.arrivals if a["path"] == path}
            runs = {r: i for i in sends for body, r in zip(i["bodies"], i["receives"], strict=True)
                    if body["delivery_id"] == delivery_id}
            if 1 in runs and 2 in runs:
                hops.append({"first_attempt": round(times[0] - posted, 3),
                             "to_invocation_end": round(runs[1]["end"] - times[0], 3),
                             "to_retry_invocation": round(runs[2]["start"] - runs[1]["end"], 3),
                             "retry_invocation_to_arrival": round(times[1] - runs[2]["start"], 3)})
        lines.append({"bench": "webhook_hops", "scenario": "retry", "scale": scale, "shards": shards or 16,
                      "endpoints": endpoints, "attempts_seen": receiver.count(), "all_retried": reached,
                      "first_attempts_from_201_s": [round(f - posted, 3) for f in sorted(firsts)],
                      "retry_gap_s": sorted(gaps),
                      "last_first_attempt_to_last_retry_s": round(max(seconds) - max(firsts), 3) if seconds else None,
                      "t0": t0})
        lines.append({"bench": "webhook_hops", "scenario": "retry", "retry_hops": hops})
    finally:
        _stop(stack, original)
        receiver.server.shutdown()
    return lines


def idle(seconds: float = 20.0) -> list[dict[str, Any]]:
    """What the stack costs doing nothing: its pollers' long polls and stream reads."""
    from status_fanout_local.runtime import Runtime

    clock = Clock()
    original = Runtime.invoke
    stack, _ = started_stack({}, clock)
    try:
        stack.wait_idle(timeout=120)
        time.sleep(2)
        METER.reset()
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        pollers = {"sqs": sum(len(p._threads) for p in stack._sqs_pollers), "stream": len(stack._stream_pollers)}
        return [{"bench": "webhook_hops", "scenario": "idle", "seconds": round(wall, 1),
                 "process_cpu_s": round(cpu, 3), "cores": round(cpu / wall, 3), "poller_threads": pollers,
                 "load_1min": round(os.getloadavg()[0], 1), "moto": METER.report()}]
    finally:
        _stop(stack, original)


def _main() -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", nargs="?", default="both", choices=("seed", "retry", "idle", "both"))
    parser.add_argument("--shards", type=int, default=0, help="FANOUT_SHARDS (default: the template's)")
    parser.add_argument("--scale", default="0.01", help="WEBHOOK_RETRY_SCALE for the retry scenario")
    parser.add_argument("--sqs-concurrency", type=int, default=0,
                        help="local pollers per queue that sets no MaximumConcurrency (the plan queue)")
    args = parser.parse_args()
    global SQS_CONCURRENCY
    SQS_CONCURRENCY = args.sqs_concurrency
    lines: list[dict[str, Any]] = []
    if args.scenario in ("seed", "both"):
        lines += seed(args.shards)
    if args.scenario in ("retry", "both"):
        lines += retry(args.shards, args.scale)
    if args.scenario == "idle":
        lines += idle()
    return lines


def main() -> None:
    # The handlers' logs and metrics go to stdout: keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main()
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
