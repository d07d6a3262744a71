"""ingest: replay the GitHub status history through the real API handler.

Starts the local stack in this process (moto server, the resources of
template.yaml, the stream and queue pollers running the publisher in the
background), then replays every incident in
data/githubstatus-incidents/ (oldest first) by invoking ApiFunction
directly with API Gateway REST (payload v1) proxy events: no HTTP, the same
handler Lambda runs. It measures:

- updates_per_second: incident updates plus postmortems written per second of
  the replay phase alone (stack start and reading the files are not timed),
  with the process CPU seconds spent meanwhile (steadier on a busy machine);
- publisher_drain_seconds: how long the publisher then needs to catch up
  with the stream (stack.wait_idle);
- incidents_stored: incidents listed by GET /v1/incidents, paging with
  limit=100; the exit code is 1 unless it equals the incidents replayed;
- peak_memory: peak RSS of the whole process (ru_maxrss), which includes the
  in-process moto server holding the table; with --tracemalloc also the peak
  of Python allocations (tracing slows the run down, so it is opt-in).

One JSON line per figure on stdout; progress (rate per window of incidents,
which shows how the emulator slows down as the table grows) and the handlers'
own logs go to stderr. Ctrl-C during the replay prints the figures so far
(marked "partial") and exits 130.

Everything runs in one process under one GIL: API handler, publisher and the
moto server, so the figures are those of the local stack, not of AWS. With
moto 5.2.5 the run slows down and grows in memory as the table fills; see
--limit to measure a prefix of the history.

Usage:
    .venv/bin/python bench/ingest.py [--limit N] [--workers N] [--data DIR] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import signal
import sys
import threading
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from status_fanout.api.auth import hash_token
from status_fanout_local.http import Route, routes_for
from status_fanout_local.replay import IncidentPlan, Send, read_plans, replay
from status_fanout_local.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "data" / "githubstatus-incidents"
FUNCTION = "ApiFunction"
HOST = "bench.execute-api.us-east-1.amazonaws.com"
OUT = sys.stdout  # the figures; handlers' logs and metrics go to stderr
TOKEN = "bench-" + uuid.uuid4().hex  # a throwaway token for the emulator only


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(figure: str, value: Any, **extra: Any) -> None:
    print(json.dumps({"bench": "ingest", "figure": figure, "value": value, **extra}), file=OUT, flush=True)


def proxy_event(route: Route, params: dict[str, str], method: str, path: str,
                query: dict[str, str] | None, body: dict[str, Any] | None, key: str | None) -> dict[str, Any]:
    """An API Gateway REST proxy event as events/apigw/*.json has them."""
    text = json.dumps(body) if body is not None else None
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {TOKEN}",
        "Host": HOST,
        "User-Agent": "bench-ingest",
        "X-Forwarded-For": "203.0.113.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if text is not None:
        headers["Content-Type"] = "application/json"
        headers["Content-Length"] = str(len(text.encode()))
    if key:
        headers["Idempotency-Key"] = key
    now = time.time()
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "bench",
            "resourcePath": route.resource,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/prod{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": HOST.split(".", 1)[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
                "sourceIp": "203.0.113.10", "principalOrgId": None, "accessKey": None,
                "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None, "userArn": None,
                "userAgent": "bench-ingest", "user": None,
            },
            "domainName": HOST,
            "deploymentId": "bench",
            "apiId": HOST.split(".", 1)[0],
        },
        "body": text,
        "isBase64Encoded": False,
    }


class Progress:
    """Counts writes as they complete and logs the rate per window of incidents."""

    def __init__(self, total: int, window: int) -> None:
        self.total = total
        self.window = window
        self.lock = threading.Lock()
        self.incidents = 0
        self.updates = 0
        self.started = time.perf_counter()
        self.mark = (self.started, time.process_time(), 0, 0)  # wall, CPU, incidents, updates at window start

    def wrote(self, method: str, path: str) -> None:
        with self.lock:
            self.updates += 1
            if method == "POST" and path == "/v1/incidents":
                self.incidents += 1
                if self.incidents % self.window == 0 or self.incidents == self.total:
                    self._close_window()

    def _close_window(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        since, cpu_since, incidents, updates = self.mark
        seconds = now - since
        window = {
            "incidents": f"{incidents + 1}-{self.incidents}",
            "updates": self.updates - updates,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu - cpu_since, 2),
            "updates_per_second": round((self.updates - updates) / seconds, 1) if seconds else None,
        }
        self.mark = (now, cpu, self.incidents, self.updates)
        log(f"[{now - self.started:7.1f} s] incidents {window['incidents']}: "
            f"{window['updates_per_second']} updates/s ({window['updates']} in {window['seconds']} s, "
            f"{window['cpu_seconds']} CPU s)")


class Interrupted(Exception):
    pass


def invoke_sender(stack: LocalStack, progress: Progress | None = None,
                  stopping: threading.Event | None = None) -> Send:
    routes = routes_for(stack.functions)

    def send(method: str, path: str, body: dict[str, Any] | None, key: str | None) -> tuple[int, Any]:
        if stopping is not None and stopping.is_set():
            # replay()'s pool would otherwise run every queued incident before Ctrl-C lands.
            raise Interrupted
        split = urlsplit(path)
        route, params, _ = routes.match(split.path, method)
        if route is None or route.function != FUNCTION:
            raise RuntimeError(f"no {FUNCTION} route for {method} {split.path}")
        query = dict(parse_qsl(split.query, keep_blank_values=True)) or None
        response = stack.invoke(FUNCTION, proxy_event(route, params, method, split.path, query, body, key))
        status = int(response["statusCode"])
        payload = json.loads(response["body"]) if response.get("body") else None
        if progress is not None and method != "GET" and status < 300 and not split.path.startswith("/v1/components"):
            progress.wrote(method, split.path)
        return status, payload

    return send


def count_incidents(send: Send) -> int:
    count, cursor = 0, None
    while True:
        path = "/v1/incidents?" + urlencode({"limit": 100, **({"cursor": cursor} if cursor else {})})
        status, payload = send("GET", path, None, None)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {payload}")
        count += len(payload["incidents"])
        cursor = payload.get("next_cursor")
        if not cursor:
            return count


def emit_memory(traced: bool) -> None:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    emit("peak_memory", round(peak_kib / 1024, 1), unit="MiB", measure="ru_maxrss, includes the moto server")
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        emit("python_alloc_peak", round(peak / 2**20, 1), unit="MiB", measure="tracemalloc")


def write_count(plans: list[IncidentPlan]) -> int:
    return sum(len(plan.updates) + (1 if plan.postmortem else 0) for plan in plans)


def main() -> int:
    # Lambda handlers log and emit EMF metrics on stdout; keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        return run()


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N incidents (oldest first)")
    parser.add_argument("--workers", type=int, default=4, help="concurrent replay threads (default 4)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of Statuspage incident JSON")
    parser.add_argument("--window", type=int, default=100, help="incidents per progress line on stderr")
    parser.add_argument("--drain-timeout", type=float, default=600, help="seconds to wait for the publisher")
    parser.add_argument("--tracemalloc", action="store_true", help="also report the peak of Python allocations")
    args = parser.parse_args()

    plans = [plan for plan in read_plans(args.data) if plan.updates]
    if args.limit is not None:
        plans = plans[: args.limit]
    updates = write_count(plans)
    log(f"{len(plans)} incidents, {updates} updates and postmortems from {args.data}; {args.workers} workers")

    if args.tracemalloc:
        tracemalloc.start()
    wall = time.perf_counter()
    with LocalStack(ROOT, port=0, parameters={"StaffTokenSha256": hash_token(TOKEN)}) as stack:
        log(f"stack up in {time.perf_counter() - wall:.1f} s")
        progress = Progress(len(plans), args.window)
        stopping = threading.Event()
        send = invoke_sender(stack, progress, stopping)

        def interrupt(signum: int, _frame: object) -> None:
            stopping.set()
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, interrupt)
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            replay(send, plans, workers=args.workers, key_prefix="bench-ingest")
        except (KeyboardInterrupt, Interrupted):
            seconds = time.perf_counter() - started
            emit("updates_per_second", round(progress.updates / seconds, 1), unit="updates/s", partial=True,
                 incidents=progress.incidents, updates=progress.updates, seconds=round(seconds, 2),
                 cpu_seconds=round(time.process_time() - cpu_started, 2), workers=args.workers)
            emit_memory(args.tracemalloc)
            log("interrupted: the figures above cover the incidents replayed so far")
            return 130
        finally:
            signal.signal(signal.SIGINT, previous)
        seconds = time.perf_counter() - started
        emit("updates_per_second", round(updates / seconds, 1), unit="updates/s", incidents=len(plans),
             updates=updates, seconds=round(seconds, 2), cpu_seconds=round(time.process_time() - cpu_started, 2),
             workers=args.workers)
        if progress.updates != updates:
            log(f"warning: {progress.updates} successful writes counted, {updates} expected")

        drain_started = time.perf_counter()
        try:
            stack.wait_idle(timeout=args.drain_timeout)
            emit("publisher_drain_seconds", round(time.perf_counter() - drain_started, 2), unit="s")
        except TimeoutError as busy:
            # The count below reads the store, not the public files: still worth having.
            emit("publisher_drain_seconds", None, unit="s", drained=False, after=args.drain_timeout,
                 busy=str(busy))

        stored = count_incidents(invoke_sender(stack))
        emit("incidents_stored", stored, expected=len(plans))

    emit_memory(args.tracemalloc)
    log(f"wall time {time.perf_counter() - wall:.1f} s")
    if stored != len(plans):
        log(f"FAIL: {stored} incidents stored, {len(plans)} replayed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
