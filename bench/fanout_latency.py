"""fanout_latency: on the local stack, the time from the API's 201 for a new
update to each of 100 webhook endpoints receiving its delivery; p50 and max
over the endpoints, for a few updates in a row.

Everything is the real path: HTTP API -> DynamoDB stream poller -> fan-out
(snapshot, planning jobs, delivery jobs) -> sender -> a real HTTP receiver.
Local figures include the pollers' batching windows (0.25 s each) and moto;
on AWS the stream and SQS triggers add their own (about 1 s each).

Usage: .venv/bin/python bench/fanout_latency.py [--endpoints N] [--updates N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "sf_bench-latency-token"  # noqa: S105 - a local throwaway token


def call(api: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(api + path, data=json.dumps(body).encode(), method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def _main() -> list[dict[str, Any]] | None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--updates", type=int, default=3)
    args = parser.parse_args()

    from status_fanout.api.auth import hash_token
    from status_fanout_local.stack import LocalStack

    arrivals: dict[str, list[float]] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with lock:
                arrivals.setdefault(body["data"]["update"]["body"], []).append(time.monotonic())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver = f"http://127.0.0.1:{server.server_address[1]}"
    lines: list[dict[str, Any]] = []
    with LocalStack(
            ROOT, parameters={"StaffTokenSha256": hash_token(TOKEN)}) as stack:
        for n in range(args.endpoints):
            call(stack.api_url, "POST", "/v1/webhooks", {"url": f"{receiver}/e{n}"})
        incident = call(stack.api_url, "POST", "/v1/incidents",
                        {"name": "Latency", "status": "investigating", "body": "warm-up"})
        deadline = time.monotonic() + 120
        while len(arrivals.get("warm-up", [])) < args.endpoints and time.monotonic() < deadline:
            time.sleep(0.05)
        for n in range(args.updates):
            text = f"update {n}"
            call(stack.api_url, "POST", f"/v1/incidents/{incident['id']}/updates",
                 {"status": "identified", "body": text})
            accepted = time.monotonic()
            deadline = accepted + 120
            while len(arrivals.get(text, [])) < args.endpoints and time.monotonic() < deadline:
                time.sleep(0.01)
            latencies = sorted(t - accepted for t in arrivals.get(text, []))
            lines.append({"bench": "fanout_latency", "update": n, "endpoints": args.endpoints,
                          "received": len(latencies), "p50_seconds": round(statistics.median(latencies), 3),
                          "max_seconds": round(latencies[-1], 3)})
    server.shutdown()
    return lines


def main() -> None:
    # The handlers' logs and metrics go to stdout: send them to stderr before
    # anything creates a logger, and keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main() or []
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
