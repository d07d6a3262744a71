"""email_throughput: emails per second from the email sender for 1,000
recipients against the emulator, and in the same run the ceiling of a plain
loop of concurrent SES v2 `send_email` calls with the same messages.

The whole local stack runs (moto server, the real fan-out and email sender
handlers, SQS pollers); 1,000 confirmed subscribers are written with the
store's own index writes; one notifying incident is posted. The sender's
figure is the time from its first to its last SES send (read from moto's
SES backend), so it includes everything the sender does per mail: the
subscriber re-check, the idempotency claim and completion, the MIME build
and the send. EMAIL_MAX_SEND_RATE is set high (and GetAccount is not
implemented by moto) so the token bucket does not bind: this measures the
sender's overhead, not SES's quota. The plain loop then re-sends the same
raw messages with a thread pool of the size the sender runs at once.

One JSON line per figure. Usage: .venv/bin/python bench/email_throughput.py [--recipients N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def emit(figure: str, value: float | int, **extra: Any) -> None:
    print(json.dumps({"bench": "email_throughput", "figure": figure, "value": value, **extra}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--loop-threads", type=int, default=0, help="default: what the sender runs at once")
    args = parser.parse_args()

    from moto.ses.models import ses_backends

    from status_fanout.api.auth import hash_token
    from status_fanout.email.channel import MAX_IN_FLIGHT
    from status_fanout.email.store import Subscriber, SubscriberStore
    from status_fanout.incidents.models import IncidentCreate
    from status_fanout.incidents.service import StatusService
    from status_fanout.incidents.store import IncidentStore
    from status_fanout_local.runtime import DEFAULT_MAX_CONTAINERS
    from status_fanout_local.stack import LocalStack
    from status_fanout_local.template import ACCOUNT_ID, REGION

    env = {"EMAIL_MAX_SEND_RATE": "100000", "OUTBOX_DIR": str(ROOT / ".local" / "bench-outbox")}
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token("bench")}, env=env) as stack:
        backend = ses_backends[ACCOUNT_ID][REGION]  # after the emulator's reset at start
        table = stack.physical["StatusTable"]
        store = IncidentStore(table, boto3.client("dynamodb"))
        subscribers = SubscriberStore(store, int(os.environ.get("FANOUT_SHARDS", "16")))
        now = "2018-08-30T22:18:00.000Z"
        setup = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: subscribers.save(Subscriber(
                id=f"bench{n:06d}", email=f"r{n:06d}@example.com", address_key=f"bench-{n}", state="confirmed",
                created_at=now, updated_at=now, confirmed_at=now), None), range(args.recipients)))
        stack.wait_idle(timeout=120)
        setup_seconds = time.perf_counter() - setup
        sent_before = len(backend.sent_messages)

        posted = time.perf_counter()
        StatusService(store).create_incident(IncidentCreate(name="Mail platform outage", status="investigating",
                                                            body="We have seen a major outrage with our email "
                                                                 "service platform"))
        deadline = time.monotonic() + 600
        first = None
        while len(backend.sent_messages) < sent_before + args.recipients:
            if first is None and len(backend.sent_messages) > sent_before:
                first = time.perf_counter()
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(backend.sent_messages) - sent_before} mails after 600 s")
            time.sleep(0.002)
        last = time.perf_counter()
        first = first or last
        messages = backend.sent_messages[sent_before:sent_before + args.recipients]
        sender_rate = args.recipients / max(last - first, 1e-9)
        end_to_end = last - posted
        try:
            # Let late duplicate jobs (moto's doubled stream records plan some
            # mails twice; their twins are recognised as sent) drain before
            # the loop, so they do not compete with it.
            stack.wait_idle(timeout=120)
            leftover = 0
        except TimeoutError as busy:
            leftover = 1
            print(f"not idle before the plain loop: {busy}", file=sys.stderr)

        # The ceiling: the same raw messages, a plain loop of concurrent send_email calls.
        threads = args.loop_threads or DEFAULT_MAX_CONTAINERS * MAX_IN_FLIGHT
        ses = boto3.client("sesv2")
        raws = [(m.destinations[0], m.raw_data.encode()) for m in messages]

        def send(item: tuple[str, bytes]) -> None:
            ses.send_email(FromEmailAddress="status@bottlenose.example", Destination={"ToAddresses": [item[0]]},
                           Content={"Raw": {"Data": item[1]}})

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(send, raws))
        loop_rate = len(raws) / (time.perf_counter() - started)

    load = os.getloadavg()[0]
    emit("sender_emails_per_second", round(sender_rate, 1), recipients=args.recipients, load1=round(load, 2))
    emit("loop_emails_per_second", round(loop_rate, 1), threads=threads, load1=round(load, 2))
    emit("ratio", round(sender_rate / loop_rate, 3), target=">= 0.7")
    emit("post_to_last_mail_seconds", round(end_to_end, 2))
    emit("setup_seconds", round(setup_seconds, 2), note="writing the confirmed subscribers")
    emit("stack_busy_before_loop", leftover, note="1: jobs were still queued when the plain loop ran")


if __name__ == "__main__":
    main()
