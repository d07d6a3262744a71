"""email_vs_floor: the email sender's mails per second against a reference
floor that does only what a durable, exactly-once sender must, in the same
emulator, A/B interleaved (issue 11).

Sender: the real DeliveryEngine + EmailChannel (IncidentStore, SES v2
client, stub SQS: any SQS call voids the figure), SQS-shaped batches of
`--batch` (10) handed to `handle_batch` by `--concurrency` (4) threads at
once, each thread its own warm engine and clients (four containers). Its
time is from the first `handle_batch` entry to the last return.

Floor (`Floor` below, this file's own code), as many batch threads, each
sending its batch's mails from a pool of `--batch` threads (40 in flight in
all): per batch one BatchGetItem of the batch's subscribers (still
confirmed?), one GetItem per event snapshot not yet read this round, one
TransactWriteItems of the batch's claims as conditional Puts
(attribute_not_exists) of the `MAIL#` items; per mail one SES v2 SendEmail
of the raw message the sender would build (made beforehand, unmeasured, with
`status_fanout.email.messages.update_message` and the same links, for the
same subscribers and events), then its outcome (`MAIL#`, status `sent`)
through a shared commit buffer in BatchWriteItem of ≤ 25, the thread
returning once its own item is written.

The emulator (the local stack's moto server with its DynamoDB fixes) runs
in a process of its own; the table is template.yaml's StatusTable; N
confirmed subscribers are written with the store's own index writes; each
round and side posts a fresh incident of `--events` updates, one event per
update (so fresh delivery ids), and the order alternates. A round of a side
is void unless moto's sent mail (`GET /moto-api/data.json`, section `ses`)
gained exactly one message per (subscriber, event), by Message-ID, and
nothing else, every `MAIL#` item reads `sent`, and the stub SQS saw no call.
The send rate is set high (EMAIL_MAX_SEND_RATE; moto has no GetAccount) so
the token bucket never binds: this is the sender's cost, not SES's quota.

One JSON line: both median rates, the ratio (median of the rounds' ratios),
CPU ms per mail of the bench and emulator processes, AWS requests per mail
(botocore `before-call`), load average.

Usage: .venv/bin/python bench/email_vs_floor.py [--subscribers 200] [--events 5] [--batch 10]
       [--concurrency 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from floorkit import (
    Emulated,
    GroupCommit,
    Phase,
    StubSqs,
    batch_get,
    chunks,
    compare,
    create_status_table,
    profile_to,
    run_phase,
    sqs_record,
    start_mark,
)

TABLE = "bench-status"
SENDER = "status@bottlenose.example"
TARGET = ">= 0.7"
STATUSES = ("investigating", "identified", "monitoring", "monitoring", "resolved")
MESSAGE_ID = re.compile(r"^Message-ID: *(<[^>]+>)", re.MULTILINE | re.IGNORECASE)


class Floor:
    """The reference floor: the least a durable email sender does per batch and per mail."""

    def __init__(self, db: Any, ses: Any, table: str, threads: int) -> None:
        self.db, self.ses, self.table = db, ses, table
        self.pool = ThreadPoolExecutor(threads)  # --batch for each concurrent batch
        self.commit: GroupCommit | None = None
        self.events: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.raws: dict[str, bytes] = {}  # delivery id → the mail

    def batch(self, jobs: list[dict[str, Any]]) -> None:
        assert self.commit is not None
        keys = [{"pk": {"S": f"SUBSCRIBER#{i}"}, "sk": {"S": "#META"}}
                for i in dict.fromkeys(j["subscriber_id"] for j in jobs)]
        subscribers = {item["id"]["S"]: item for item in batch_get(self.db, self.table, keys)}
        for event_id in dict.fromkeys(j["event_id"] for j in jobs):
            with self.lock:  # one read per event, whichever batch thread asks first
                if event_id not in self.events:
                    item = self.db.get_item(TableName=self.table, ConsistentRead=True,
                                            Key={"pk": {"S": f"EVT#{event_id}"}, "sk": {"S": "#EVENT"}})["Item"]
                    self.events[event_id] = json.loads(item["payload"]["S"])
        due = [j for j in jobs if subscribers.get(j["subscriber_id"], {}).get("state", {}).get("S") == "confirmed"]
        now = int(time.time())
        for part in chunks(due, 100):  # DynamoDB's ceiling per transaction; one for batches up to 100
            self.db.transact_write_items(TransactItems=[{"Put": {
                "TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                "Item": self.mail_item(j, "sending", now) | {"lease_until": {"N": str(now + 900)}}}} for j in part])
        list(self.pool.map(lambda j: self.send(j, subscribers[j["subscriber_id"]]), due))

    def send(self, job: dict[str, Any], subscriber: dict[str, Any]) -> None:
        assert self.commit is not None
        self.ses.send_email(FromEmailAddress=SENDER, Destination={"ToAddresses": [subscriber["email"]["S"]]},
                            Content={"Raw": {"Data": self.raws[job["delivery_id"]]}},
                            EmailTags=[{"Name": "subscriber", "Value": job["subscriber_id"]},
                                       {"Name": "kind", "Value": "update"}])
        self.commit.put(self.mail_item(job, "sent", int(time.time())))

    @staticmethod
    def mail_item(job: dict[str, Any], status: str, now: int) -> dict[str, Any]:
        return {"pk": {"S": f"MAIL#{job['delivery_id']}"}, "sk": {"S": "#CLAIM"}, "type": {"S": "mail"},
                "status": {"S": status}, "expires_at": {"N": str(now + 7 * 86400)}}

    def close(self) -> None:
        self.pool.shutdown()


def _main(args: argparse.Namespace) -> list[dict[str, Any]]:
    from status_fanout.delivery.engine import DeliveryEngine
    from status_fanout.delivery.events import EventSnapshot, EventStore, delivery_id
    from status_fanout.email import messages as email_messages
    from status_fanout.email.channel import EmailChannel
    from status_fanout.email.store import Subscriber, SubscriberStore
    from status_fanout.email.subscriptions import SubscriptionService
    from status_fanout.incidents.lifecycle import status_labels
    from status_fanout.incidents.store import IncidentStore
    from status_fanout.settings import EmailSettings, PageSettings, Settings
    from status_fanout.timefmt import format_ts, utcnow

    emulated = Emulated()
    try:
        setup_db = emulated.client("dynamodb")
        create_status_table(setup_db, TABLE)
        ses_setup = emulated.client("sesv2")
        for identity in (SENDER, SENDER.rpartition("@")[2]):
            ses_setup.create_email_identity(EmailIdentity=identity)
        settings = Settings(table_name=TABLE, page=PageSettings(name="Bottlenose"), email=EmailSettings(
            sender_address=SENDER, subscription_secret="bench-" + "s" * 40, max_send_rate=100_000,
            sender_concurrency=1, queue_url="stub://email-queue", dlq_url="stub://email-dlq"))
        setup_store = IncidentStore(TABLE, setup_db)
        subscribers_store = SubscriberStore(setup_store, settings.fanout.shards)
        created = format_ts(utcnow())
        subscribers = [Subscriber(id=f"sub_{n:06d}", email=f"r{n:06d}@example.com", address_key=f"bench-{n}",
                                  state="confirmed", created_at=created, updated_at=created, confirmed_at=created)
                       for n in range(args.subscribers)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda s: subscribers_store.save(s, None), subscribers))
        events_store = EventStore(setup_store)
        links = SubscriptionService(setup_store, settings)
        domain = email_messages.domain_of(SENDER)

        def workload(label: str) -> tuple[list[EventSnapshot], list[dict[str, Any]]]:
            """A fresh incident of --events updates, one event each, and their jobs event by event."""
            incident_id = f"inc_{label}"
            start = datetime.now(UTC)
            updates: list[dict[str, Any]] = []
            events = []
            for n in range(args.events):
                at = format_ts(start + timedelta(minutes=n))
                updates.insert(0, {"id": f"{incident_id}_u{n}", "status": STATUSES[n % len(STATUSES)],
                                   "body": f"Update {n} on the mail platform: we are looking into delayed "
                                           "deliveries and will post again soon. " * 3,
                                   "incident_id": incident_id, "created_at": at, "updated_at": at,
                                   "display_at": at, "deliver_notifications": True})
                labels = status_labels((u["id"], u["status"]) for u in reversed(updates))
                incident = {"id": incident_id, "name": f"Mail platform outage {label}", "status": updates[0]["status"],
                            "impact": "major", "created_at": updates[-1]["created_at"], "updated_at": at,
                            "incident_updates": [dict(u) for u in updates], "components": []}
                events.append(events_store.put(EventSnapshot(
                    id=f"bench:{label}:{n}", type="incident.created" if n == 0 else "incident.updated",
                    occurred_at=at, incident_id=incident_id, page={"id": "bottlenose", "name": "Bottlenose",
                                                                    "url": settings.page.url,
                                                                    "time_zone": "Etc/UTC", "updated_at": at},
                    status={"indicator": "major", "description": "Partial System Outage"}, incident=incident,
                    update={**updates[0], "label": labels[updates[0]["id"]]}, sequence=n + 1),
                    int(time.time()) + 3600))
            jobs = [{"delivery_id": delivery_id(e.id, s.id), "event_id": e.id, "event_type": e.type,
                     "occurred_at": e.occurred_at, "subscriber_id": s.id} for e in events for s in subscribers]
            return events, jobs

        def expected_ids(events: list[EventSnapshot]) -> set[str]:
            """The Message-ID of each (subscriber, event) mail, as the sender derives it."""
            return {email_messages.threading(e, f"<{delivery_id(e.id, s.id)}@{domain}>", s.id, SENDER)[0]
                    for e in events for s in subscribers}

        def raw_messages(events: list[EventSnapshot]) -> dict[str, bytes]:
            """What EmailChannel.send builds for each delivery: the floor sends these."""
            raws = {}
            for event in events:
                for s in subscribers:
                    did = delivery_id(event.id, s.id)
                    raws[did] = email_messages.update_message(
                        settings, event, to=s.email, subscriber_id=s.id, message_id=f"<{did}@{domain}>",
                        unsubscribe_url=links.link("unsubscribe", links.token("unsubscribe", s)),
                        manage_url=links.link("manage", links.token("manage", s)), subscribed_to=[],
                        now=utcnow())
            return raws

        # One warm engine and client pair per concurrent batch, as in four containers.
        sqs = StubSqs()
        engines = []
        for _ in range(args.concurrency):
            db = IncidentStore(TABLE, emulated.client("dynamodb"))
            engines.append(DeliveryEngine(EmailChannel(db, settings, ses=emulated.client("sesv2")), db, sqs=sqs))
        floor = Floor(emulated.client("dynamodb"), emulated.client("sesv2"), TABLE, args.batch * args.concurrency)
        floor_threads = ThreadPoolExecutor(args.concurrency)

        def run_sender(jobs: list[dict[str, Any]]) -> tuple[float, list[str]]:
            batches: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
            for batch in chunks([sqs_record(n, job) for n, job in enumerate(jobs)], args.batch):
                batches.put(batch)
            failures: list[str] = []

            def container(engine: Any) -> None:
                while True:
                    try:
                        batch = batches.get_nowait()
                    except queue.Empty:
                        return
                    result = engine.handle_batch(batch, settings.email.queue_url)
                    failures.extend(f["itemIdentifier"] for f in result["batchItemFailures"])

            threads = [threading.Thread(target=container, args=(engine,)) for engine in engines]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return time.perf_counter() - started, failures

        def run_floor(jobs: list[dict[str, Any]]) -> tuple[float, list[str]]:
            floor.events.clear()
            floor.commit = GroupCommit(floor.db, TABLE)
            started = time.perf_counter()
            list(floor_threads.map(floor.batch, chunks(jobs, args.batch)))
            return time.perf_counter() - started, []

        sent_seen = 0

        def sent_since() -> list[dict[str, Any]]:
            """The mails moto's SES accepted since the last call."""
            nonlocal sent_seen
            data = emulated.moto.get_json("/moto-api/data.json")
            raw = data.get("ses", {}).get("RawMessage", [])
            new, sent_seen = raw[sent_seen:], len(raw)
            return list(new)

        def check(phase: Phase, events: list[EventSnapshot], jobs: list[dict[str, Any]], failures: list[str]) -> None:
            expected = expected_ids(events)
            sent: dict[str, int] = {}
            for message in sent_since():
                found = MESSAGE_ID.search(message.get("raw_data", ""))
                key = found.group(1) if found else "?"
                sent[key] = sent.get(key, 0) + 1
            if set(sent) != expected:
                phase.void.append(f"moto holds {len(set(sent) & expected)} of {len(expected)} mails "
                                  f"and {len(set(sent) - expected)} others")
            if any(n != 1 for n in sent.values()):
                phase.void.append(f"{sum(1 for n in sent.values() if n != 1)} mails sent more than once")
            keys = [{"pk": {"S": f"MAIL#{j['delivery_id']}"}, "sk": {"S": "#CLAIM"}} for j in jobs]
            items = [i for part in chunks(keys, 100) for i in batch_get(setup_db, TABLE, part)]
            done = sum(1 for i in items if i["status"]["S"] == "sent")
            if done != len(jobs):
                phase.void.append(f"{done} of {len(jobs)} MAIL# items read sent")
            if failures:
                phase.void.append(f"{len(failures)} batch item failures")
            calls = sqs.take()
            if calls:
                phase.void.append(f"{len(calls)} SQS calls ({', '.join(sorted({c[0] for c in calls}))})")

        # Warm up every engine (send rate, templates, connections) and the floor, unmeasured.
        for side, run in (("sender", run_sender), ("floor", run_floor)):
            warm_events, warm_jobs = workload(f"warm-{side}")
            floor.raws = raw_messages(warm_events[:1])
            run([j for j in warm_jobs if j["event_id"] == warm_events[0].id][:args.batch * args.concurrency])
        sent_since()
        warm_void = [f"warm-up: {len(calls)} SQS calls"] if (calls := sqs.take()) else []

        started = start_mark()
        senders: list[Phase] = []
        floors: list[Phase] = []
        for round_ in range(args.rounds):
            order = [("sender", run_sender, senders), ("floor", run_floor, floors)]
            for side, run, phases in (order if round_ % 2 == 0 else order[::-1]):
                events, jobs = workload(f"{side}{round_}")
                if side == "floor":
                    floor.raws = raw_messages(events)
                outcome: dict[str, Any] = {}

                def work(run: Any = run, jobs: list[dict[str, Any]] = jobs, outcome: dict[str, Any] = outcome
                         ) -> float:
                    seconds, outcome["failures"] = run(jobs)
                    return float(seconds)

                phase = run_phase(side, len(jobs), emulated, {}, work, f"{side}-r{round_ + 1}")
                check(phase, events, jobs, outcome["failures"])
                print(f"{side} round {round_ + 1}: {phase.per_s:.1f}/s {phase.void or ''}", file=sys.stderr)
                phases.append(phase)
        floor.close()
        floor_threads.shutdown()
        return [compare("email_vs_floor", senders, floors, TARGET, started, warm_void, subscribers=args.subscribers,
                        events=args.events, mails=args.subscribers * args.events, batch=args.batch,
                        concurrent_batches=args.concurrency, floor_threads=args.concurrency * args.batch)]
    finally:
        emulated.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--events", type=int, default=5, help="updates of each round's incident, per side")
    parser.add_argument("--batch", type=int, default=10, help="SQS batch size")
    parser.add_argument("--concurrency", type=int, default=4, help="batches at once (sender containers)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--py-spy", metavar="DIR", help="record py-spy stacks of each measured phase here "
                        "(bench/floorkit/stacks.py DIR sums them up); perturbs the figures")
    args = parser.parse_args()
    profile_to(args.py_spy)
    # The engine's logs and metrics go to stdout: keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main(args)
    for line in lines:
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
