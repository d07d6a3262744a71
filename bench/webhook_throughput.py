"""webhook_throughput: deliveries per second from the webhook sender to a
local receiver, against the ceiling of a plain concurrent HTTP client sending
the same signed requests to the same receiver, in the same run.

The sender is the real one (the batch's endpoint read and claim transaction
on the table, the SSRF check, signing, pooled connections, the delivery log
write that ends each claim), fed batches of 50 jobs as Lambda's SQS trigger
would, 32 in flight per batch, on the local stack's moto server (its stream
and queue pollers stopped: the jobs are handed to the sender directly). The
plain client is urllib3 with 32 threads and nothing else, its requests
signed beforehand. A third figure runs the same sender with its
bookkeeping (claim, endpoint and event reads, delivery log) in memory: the
HTTP engine alone. Run twice: against a receiver that answers at once, and
one that takes 20 ms (a partner writing to its own database). One JSON line
per figure.

Usage: .venv/bin/python bench/webhook_throughput.py [--deliveries N] [--delays 0,20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3

from status_fanout.delivery.claims import CLAIMED, ClaimRequest

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = 100
BATCH = 50


def receiver(delay_ms: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if delay_ms:
                time.sleep(delay_ms / 1000)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _main() -> list[dict[str, Any]] | None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--delays", default="0,20", help="receiver delays in ms, one run each")
    args = parser.parse_args()

    from status_fanout.api.auth import hash_token
    from status_fanout.delivery.engine import DeliveryEngine
    from status_fanout.delivery.events import EventSnapshot, delivery_id
    from status_fanout.incidents.store import IncidentStore
    from status_fanout.settings import Settings
    from status_fanout.timefmt import format_ts, utcnow
    from status_fanout.webhooks.channel import MAX_IN_FLIGHT, WebhookChannel
    from status_fanout.webhooks.models import WebhookCreate, sign, signing_secrets
    from status_fanout.webhooks.service import WebhookService
    from status_fanout_local.stack import LocalStack

    results: list[dict[str, Any]] = []
    with LocalStack(
            ROOT, parameters={"StaffTokenSha256": hash_token("bench")}) as stack:
        stack.stop_pollers()
        settings = Settings.from_env()
        store = IncidentStore(stack.physical["StatusTable"])
        service = WebhookService(store, settings)
        for delay in [int(d) for d in args.delays.split(",")]:
            server = receiver(delay)
            url = f"http://127.0.0.1:{server.server_address[1]}"
            endpoints = [service.create(WebhookCreate(url=f"{url}/e{n}"))[0] for n in range(ENDPOINTS)]
            events = []
            for n in range(max(1, args.deliveries // ENDPOINTS)):
                now = format_ts(utcnow())
                event = EventSnapshot(id=f"bench:{delay}:{n}", type="incident.updated", occurred_at=now,
                                      page={"id": "bench", "name": "Bench", "url": url, "time_zone": "Etc/UTC",
                                            "updated_at": now}, status={"indicator": "none", "description": "ok"},
                                      incident={"id": "bench", "name": "Bench incident"}, update={"body": "x" * 400},
                                      sequence=n)
                events.append(service.planner.events.put(event, int(time.time()) + 3600))
            jobs = [{"delivery_id": delivery_id(e.id, ep.id), "event_id": e.id, "event_type": e.type,
                     "occurred_at": e.occurred_at, "subscriber_id": ep.id} for e in events for ep in endpoints]
            records = [{"messageId": str(i), "receiptHandle": str(i), "body": json.dumps(job),
                        "attributes": {"ApproximateReceiveCount": "1"}} for i, job in enumerate(jobs)]

            sender = DeliveryEngine(WebhookChannel(service.webhooks, settings), store)
            started = time.perf_counter()
            for offset in range(0, len(records), BATCH):
                result = sender.handle_batch(records[offset:offset + BATCH], settings.webhook.queue_url)
                assert not result["batchItemFailures"], result
            sender_seconds = time.perf_counter() - started

            memory: Any = MemoryBookkeeping(endpoints, events)  # stands in for the store, events and claims
            engine = DeliveryEngine(WebhookChannel(memory, settings), store, events=memory, claims=memory)
            started = time.perf_counter()
            for offset in range(0, len(records), BATCH):
                result = engine.handle_batch(records[offset:offset + BATCH], settings.webhook.queue_url)
                assert not result["batchItemFailures"], result
            engine_seconds = time.perf_counter() - started

            # The ceiling: the same signed requests, nothing else.
            pool = urllib3.PoolManager(maxsize=MAX_IN_FLIGHT, retries=False)
            by_id = {ep.id: ep for ep in endpoints}
            prepared = []
            for job in jobs:
                event = next(e for e in events if e.id == job["event_id"])
                body = json.dumps({"type": event.type, "timestamp": event.occurred_at,
                                   "data": event.model_dump()}, separators=(",", ":")).encode()
                endpoint = by_id[job["subscriber_id"]]
                stamp = int(time.time())
                prepared.append((endpoint.url, body, {
                    "webhook-id": job["delivery_id"], "webhook-timestamp": str(stamp),
                    "content-type": "application/json",
                    "webhook-signature": sign(signing_secrets(endpoint, format_ts(utcnow())), job["delivery_id"],
                                              stamp, body)}))
            started = time.perf_counter()
            def post(request: tuple[str, bytes, dict[str, str]], pool: urllib3.PoolManager = pool) -> int:
                return pool.request("POST", request[0], body=request[1], headers=request[2]).status

            with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT) as threads:
                statuses = list(threads.map(post, prepared))
            plain_seconds = time.perf_counter() - started
            assert all(s == 204 for s in statuses)
            server.shutdown()
            server.server_close()
            sender_rate, plain_rate = len(jobs) / sender_seconds, len(jobs) / plain_seconds
            engine_rate = len(jobs) / engine_seconds
            results.append({"bench": "webhook_throughput", "receiver_delay_ms": delay, "deliveries": len(jobs),
                            "sender_per_second": round(sender_rate, 1), "plain_client_per_second": round(plain_rate, 1),
                            "ratio": round(sender_rate / plain_rate, 3),
                            "sender_http_engine_per_second": round(engine_rate, 1),
                            "http_engine_ratio": round(engine_rate / plain_rate, 3), "in_flight": MAX_IN_FLIGHT})
    return results


class MemoryBookkeeping:
    """The store, event and claim calls of a delivery, answered from memory."""

    def __init__(self, endpoints: list[Any], events: list[Any]) -> None:
        self.endpoints = {e.id: e for e in endpoints}
        self.events = {e.id: e for e in events}
        self.log: list[Any] = []

    def get_many(self, webhook_ids: list[str]) -> dict[str, Any]:
        return {i: self.endpoints[i] for i in webhook_ids}

    def delivery_claim(self, job: dict[str, Any], now: int) -> ClaimRequest:
        return ClaimRequest(job["delivery_id"], {})

    def claim_all(self, requests: list[ClaimRequest], done: str, now: int, lease_until: int) -> dict[str, str]:
        return {request.delivery_id: CLAIMED for request in requests}

    def get(self, event_id: str) -> Any:
        return self.events[event_id]

    def record_attempt(self, *args: Any) -> None:
        self.log.append(args)


def main() -> None:
    # The handlers' logs and metrics go to stdout: send them to stderr before
    # anything creates a logger, and keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main() or []
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
