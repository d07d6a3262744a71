"""notify_latency: time to notify (docs/contract.md §13), hop by hop, on the
local stack with the template's own settings (16 shards, both channels).

100 webhook endpoints on a loopback receiver, the seed incident's four
components, then live updates posted to one incident through the API over
HTTP, each once the stack is idle again (as updates are posted minutes
apart). For each update: from the API's 201 to the first endpoint's receipt
and to the last (100th). Printed: p50 and max of both against the targets
(first p50 <= 2 s, last p50 <= 5 s), and the median of every hop on the way:

  stream poll       201 -> the fan-out's stream invocation holding the update begins
  stream side       -> the event's planning jobs are on the plan queue (snapshot, SendMessageBatch)
  plan queue        -> a webhook planning job's invocation begins
  planning          -> a delivery job is on the webhook queue (index Queries, SendMessageBatch)
  delivery queue    -> a sender invocation holding it begins
  send              -> the receiver has it (claims, sign, POST)

each for the first and for the last of its kind ("first" is the earliest
planning job started, the earliest delivery job enqueued ...; "last" the
latest), so each column adds up to the first and to the last receipt. Also
the event's plan jobs, the process CPU, the stack's idle CPU and the load.

Every invocation is timed by wrapping the local runtime's `invoke` (this
script only); an SQS record's SentTimestamp says when its job was enqueued.

Usage: .venv/bin/python bench/notify_latency.py [--endpoints N] [--updates N] [--shards N]
           [--idle-seconds S]
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "events" / "seed" / "mail-platform-outage.json"
TOKEN = "sf_bench-notify-token"  # noqa: S105 - a local throwaway token
TARGET_FIRST_P50 = 2.0
TARGET_LAST_P50 = 5.0
HOPS = ("stream poll", "stream side", "plan queue", "planning", "delivery queue", "send")


class Recorder:
    """Every invocation: function, wall-clock start and end, and its records."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.invocations: list[dict[str, Any]] = []

    def wrap(self, original: Any) -> Any:
        recorder = self

        def invoke(runtime: Any, logical_id: str, event: Any) -> Any:
            started, cpu = time.time(), time.thread_time()
            try:
                return original(runtime, logical_id, event)
            finally:
                recorder.add(logical_id, event, started, time.time(), time.thread_time() - cpu)

        return invoke

    def add(self, function: str, event: Any, started: float, ended: float, cpu: float) -> None:
        from status_fanout.delivery.planner import notifying_events

        records = (event.get("Records") if isinstance(event, dict) else None) or []
        entry: dict[str, Any] = {"function": function, "start": started, "end": ended, "cpu": cpu, "source": "direct"}
        if records and records[0].get("eventSource") == "aws:sqs":
            entry["source"] = records[0]["eventSourceARN"].rsplit(":", 1)[-1]
            entry["jobs"] = [{"sent": int(r["attributes"].get("SentTimestamp", 0)) / 1000, **json.loads(r["body"])}
                             for r in records]
        elif records and records[0].get("eventSource") == "aws:dynamodb":
            entry["source"] = "stream"
            entry["events"] = [e.id for e in notifying_events(records)]
            # When each notifying record was written (the stream record's creation time).
            entry["written"] = {e.id: float(r["dynamodb"]["ApproximateCreationDateTime"])
                                for r in records for e in notifying_events([r])}
        with self.lock:
            self.invocations.append(entry)

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            taken, self.invocations = self.invocations, []
        return taken


class Receiver:
    """100 endpoints are 100 paths of one loopback server; arrivals by update text."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, dict[str, float]] = {}  # update body -> path -> first arrival
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                text = ((body.get("data") or {}).get("update") or {}).get("body", "")
                with receiver.lock:
                    receiver.arrivals.setdefault(text, {}).setdefault(self.path, at)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def of(self, text: str) -> list[float]:
        with self.lock:
            return sorted((self.arrivals.get(text) or {}).values())


def call(api: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(api + path, data=json.dumps(body).encode(), method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read() or b"{}"))


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def milestones(event_id: str, accepted: float, arrivals: list[float],
               invocations: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds after the 201 at which each step first and last happened for one event."""
    streams = [i["start"] for i in invocations if event_id in i.get("events", [])]
    written = [i["written"][event_id] for i in invocations if event_id in i.get("written", {})]
    plan_jobs = [(i, j) for i in invocations if i["source"].lower().endswith("planqueue")
                 for j in i["jobs"] if j.get("event_id") == event_id]
    webhook_plans = [(i, j) for i, j in plan_jobs if j.get("channel") == "webhook"]
    deliveries = [(i, j) for i in invocations if i["function"] == "WebhookSenderFunction"
                  for j in i.get("jobs", []) if j.get("event_id") == event_id]
    steps: list[tuple[str, list[float]]] = [
        ("stream invoked", streams),
        ("plan jobs enqueued", [j["sent"] for _, j in plan_jobs]),
        ("webhook plan job started", [i["start"] for i, _ in webhook_plans]),
        ("delivery job enqueued", [j["sent"] for _, j in deliveries]),
        ("sender started", [i["start"] for i, _ in deliveries]),
        ("received", arrivals),
    ]
    at = {name: [round(min(times) - accepted, 3), round(max(times) - accepted, 3)] if times else None
          for name, times in steps}
    hops: dict[str, dict[str, float | None]] = {"first": {}, "last": {}}
    for end, which in ((0, "first"), (1, "last")):
        before = 0.0
        for hop, (name, _) in zip(HOPS, steps, strict=True):
            point = at[name]
            hops[which][hop] = round(point[end] - before, 3) if point else None
            before = point[end] if point else before
    return {"at": at, "hops": hops,
            "written_s": round(min(written) - accepted, 3) if written else None,
            "plan_jobs": {"webhook": len(webhook_plans), "all": len(plan_jobs),
                          "invocations": len({id(i) for i, _ in plan_jobs})},
            "plan_queue_wait_p50": round(statistics.median(i["start"] - j["sent"] for i, j in webhook_plans), 3)
            if webhook_plans else None,
            "sender_invocations": len({id(i) for i, _ in deliveries}),
            "handler_cpu_s": {f: round(sum(i["cpu"] for i in invocations if i["function"] == f), 3)
                              for f in sorted({i["function"] for i in invocations})}}


def idle_cores(stack: Any, seconds: float) -> dict[str, Any]:
    """Process CPU while the stack does nothing: its pollers' own cost."""
    stack.wait_idle(timeout=300)
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return {"idle_seconds": round(wall, 1), "idle_cores": round(cpu / wall, 3)}


def poller_threads(stack: Any) -> dict[str, int]:
    """Threads that poll moto: the SQS receivers and the stream readers."""
    return {"sqs": sum(len(p._threads) for p in stack._sqs_pollers), "stream": len(stack._stream_pollers)}


def _main() -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--updates", type=int, default=6)
    parser.add_argument("--shards", type=int, default=0, help="FANOUT_SHARDS (default: the template's)")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="measure idle CPU this long (0: skip)")
    args = parser.parse_args()

    from status_fanout.api.auth import hash_token
    from status_fanout_local.replay import ensure_components, http_sender, read_plans
    from status_fanout_local.runtime import Runtime
    from status_fanout_local.stack import LocalStack

    recorder = Recorder()
    original = Runtime.invoke
    setattr(Runtime, "invoke", recorder.wrap(original))  # noqa: B010 - a bench-only patch
    receiver = Receiver()
    env = {"FANOUT_SHARDS": str(args.shards)} if args.shards else {}
    lines: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    try:
        with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(TOKEN)}, env=env) as stack:
            shards = int(os.environ.get("FANOUT_SHARDS", "0"))
            [plan] = read_plans(SEED, live=True)
            ensure_components(http_sender(stack.api_url, TOKEN), [plan])
            for n in range(args.endpoints):
                call(stack.api_url, "POST", "/v1/webhooks", {"url": f"{receiver.url}/e{n}"})
            idle = idle_cores(stack, args.idle_seconds) if args.idle_seconds else {}
            threads = poller_threads(stack)
            # The incident's first update warms every container; it is reported, not counted.
            recorder.take()
            first = plan.updates[0]
            incident = call(stack.api_url, "POST", "/v1/incidents",
                            {"name": plan.name, **first, "impact": "critical"})
            accepted = time.time()
            wait_for(lambda: len(receiver.of(first["body"])) >= args.endpoints, 300)
            stack.wait_idle(timeout=300)
            warm = milestones(f"upd:{incident['id']}:1", accepted, receiver.of(first["body"]), recorder.take())
            lines.append({"bench": "notify_latency", "figure": "warm_up", "received": len(receiver.of(first["body"])),
                          "first_s": warm["at"]["received"][0] if warm["at"]["received"] else None,
                          "last_s": warm["at"]["received"][1] if warm["at"]["received"] else None})
            results: list[dict[str, Any]] = []
            cpu0, load_during = time.process_time(), []
            for n in range(args.updates):
                text = f"Update {n + 1} of the latency bench"
                posted = time.time()
                call(stack.api_url, "POST", f"/v1/incidents/{incident['id']}/updates",
                     {"status": "identified", "body": text})
                accepted = time.time()
                reached = wait_for(lambda text=text: len(receiver.of(text)) >= args.endpoints, 300)
                stack.wait_idle(timeout=300)
                load_during.append(os.getloadavg()[0])
                got = receiver.of(text)
                # The incident's first update is seq 1; each post adds one.
                result = milestones(f"upd:{incident['id']}:{n + 2}", accepted, got, recorder.take())
                result.update(update=n + 1, received=len(got), all_received=reached, api_s=round(accepted - posted, 3))
                results.append(result)
                lines.append({"bench": "notify_latency", "figure": "update", "update": n + 1, "received": len(got),
                              "first_s": round(got[0] - accepted, 3) if got else None,
                              "last_s": round(got[-1] - accepted, 3) if got else None,
                              "api_s": result["api_s"], "written_s": result["written_s"], "at": result["at"],
                              "plan_jobs": result["plan_jobs"],
                              "plan_queue_wait_p50": result["plan_queue_wait_p50"],
                              "sender_invocations": result["sender_invocations"],
                              "handler_thread_cpu_s": result["handler_cpu_s"]})
            cpu = time.process_time() - cpu0
    finally:
        setattr(Runtime, "invoke", original)  # noqa: B010
        receiver.server.shutdown()

    done = [r for r in results if r["at"]["received"]]
    firsts = [r["at"]["received"][0] for r in done]
    lasts = [r["at"]["received"][1] for r in done]
    load = {"load_1min_before": round(load_before[0], 1), "load_1min_during": [round(x, 1) for x in load_during],
            "load_1min_after": round(os.getloadavg()[0], 1)}
    run = {"bench": "notify_latency", "figure": "run", "shards": shards, "endpoints": args.endpoints,
           "updates": len(results), "all_received": all(r["all_received"] for r in results),
           "process_cpu_s": round(cpu, 3), "process_cpu_s_per_update": round(cpu / max(1, len(results)), 3),
           "poller_threads": threads, **idle, **load}
    lines.append(run)
    for figure, values, target in (("first_receipt", firsts, TARGET_FIRST_P50),
                                   ("last_receipt", lasts, TARGET_LAST_P50)):
        p50 = round(statistics.median(values), 3) if values else None
        lines.append({"bench": "notify_latency", "figure": figure, "p50_s": p50,
                      "max_s": round(max(values), 3) if values else None, "target_p50_s": target,
                      "met": p50 is not None and p50 <= target and len(values) == len(results), **load})
    for hop in HOPS:
        row: dict[str, Any] = {"bench": "notify_latency", "figure": "hop", "hop": hop}
        for which in ("first", "last"):
            values = [r["hops"][which][hop] for r in done if r["hops"][which][hop] is not None]
            row[f"{which}_p50_s"] = round(statistics.median(values), 3) if values else None
        lines.append(row)
    return lines


def main() -> None:
    # The handlers' logs and metrics go to stdout: keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main()
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
