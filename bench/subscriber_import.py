"""subscriber_import: `POST /v1/subscribers/import` and `GET /v1/subscribers/export`
of N subscribers, against the local stack's emulator (moto server with the
local stack's fixes, in its own process: bench/floorkit), the table from
template.yaml. The email queue is a recording stub (floorkit.StubSqs): moto's
SQS gets slower with every message a queue holds (SendMessageBatch of ten
took ~35 ms on an empty queue, ~150 ms with 3,000 waiting and no consumer),
which says nothing about AWS, so its calls are counted, not timed.

For each size (default 1,000 and 10,000 rows), in a fresh table:

- import: a CSV of N new addresses (a third subscribed to everything, the
  rest to one of two components), through `subscriber_io.import_subscribers`
  as the route calls it: every row becomes a pending subscriber and one
  `subscribe` job on the queue;
- reimport: the same file again (every row merges; nothing is written or queued);
- export: every subscriber as CSV (`subscriber_io.export_subscribers`).

Per phase, one JSON line: rows, wall seconds, CPU seconds of the bench
process and of the emulator process, DynamoDB calls by operation, SQS calls
by operation, rows/s, and what the import reported. The emulator serialises
DynamoDB operations, so its wall time is the sum of its per-item costs, not
AWS's (docs/subscriber-import.md turns the call counts into an AWS figure).
No timing is asserted.

Usage:
    .venv/bin/python bench/subscriber_import.py [--rows 1000,10000]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from floorkit import Emulated, StubSqs, create_status_table  # noqa: E402

from status_fanout.delivery.jobs import enqueue  # noqa: E402
from status_fanout.email import subscriber_io  # noqa: E402
from status_fanout.email.subscriptions import SubscriptionService  # noqa: E402
from status_fanout.incidents.models import ComponentPut  # noqa: E402
from status_fanout.incidents.service import StatusService  # noqa: E402
from status_fanout.incidents.store import IncidentStore  # noqa: E402
from status_fanout.settings import EmailSettings, Settings  # noqa: E402

DYNAMO_OPERATIONS = {"Query", "GetItem", "BatchGetItem", "PutItem", "TransactWriteItems", "BatchWriteItem",
                     "DeleteItem", "UpdateItem", "Scan", "DescribeTable"}
COMPONENTS = ("smtp-email", "pop3-imap-email")


def emit(figure: dict[str, Any]) -> None:
    load = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({"bench": "subscriber_import", **figure, "loadavg": load}), flush=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def csv_file(rows: int) -> str:
    lines = ["email,components"]
    for n in range(rows):
        lines.append(f"reader-{n:06d}@example.com,{COMPONENTS[n % 2] if n % 3 else ''}")
    return "\n".join(lines) + "\n"


def measure(emulated: Emulated, sqs_stub: StubSqs, phase: str, rows: int, action: Callable[[], Any]) -> Any:
    emulated.meter.take()
    sqs_stub.take()
    moto_cpu = emulated.moto.cpu_seconds()
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    calls, _ = emulated.meter.take()
    dynamo = {k: v for k, v in sorted(calls.items()) if k in DYNAMO_OPERATIONS}
    sqs = dict(collections.Counter(operation for operation, _ in sqs_stub.take()))
    report = result.body() if isinstance(result, subscriber_io.Report) else {}
    emit({"phase": phase, "rows": rows, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
          "emulator_cpu_seconds": round(emulated.moto.cpu_seconds() - moto_cpu, 3),
          "dynamodb_calls": sum(dynamo.values()), "dynamodb_by_operation": dynamo,
          "sqs_calls": sum(sqs.values()), "sqs_by_operation": sqs, "rows_per_second": round(rows / wall, 1),
          **({"imported": report["imported"], "merged": report["merged"], "rejected": len(report["rejected"]),
              "opt_in_sent": report["opt_in_sent"]} if report else {})})
    return result


def run(emulated: Emulated, rows: int) -> None:
    table = f"bench-import-{rows}"
    db = emulated.client("dynamodb")
    create_status_table(db, table)
    settings = Settings(table_name=table, email=EmailSettings(queue_url="https://sqs.example/email",
                                                              subscription_secret="bench-" + "s" * 40))
    store = IncidentStore(table, db)
    for position, cid in enumerate(COMPONENTS):
        StatusService(store).put_component(cid, ComponentPut(name=cid, position=position))
    sqs = StubSqs()
    service = SubscriptionService(store, settings, enqueue=lambda url, bodies: enqueue(sqs, url, bodies))
    text = csv_file(rows)
    log(f"{rows} rows: {len(text)} bytes of CSV")

    def run_import() -> subscriber_io.Report:
        # No deadline: the emulator's seconds are not AWS's, and the figure is the whole file.
        return subscriber_io.import_subscribers(service, text, True, None, seconds=3600)

    first = measure(emulated, sqs, "import", rows, run_import)
    assert first.imported == rows and first.opt_in_sent == rows, (first.imported, first.opt_in_sent)
    again = measure(emulated, sqs, "reimport", rows, run_import)
    assert again.imported == 0 and again.merged == rows and again.opt_in_sent == 0, (again.imported, again.merged)
    query = subscriber_io.ExportQuery()
    export = measure(emulated, sqs, "export", rows, lambda: subscriber_io.export_subscribers(service, query, False))
    assert export.body.count("\r\n") == rows + 1 and export.next_cursor is None
    log(f"{rows} rows: export is {len(export.body)} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1000,10000", help="comma-separated sizes")
    args = parser.parse_args()
    emulated = Emulated()
    try:
        for rows in (int(n) for n in args.rows.split(",")):
            run(emulated, rows)
    finally:
        emulated.close()


if __name__ == "__main__":
    main()
