"""emulator_costs: CPU per item of the AWS requests the senders make, in the
local stack's emulator (moto server in this process, over HTTP, through
boto3, its pollers stopped), next to the SES call and the webhook POST the
throughput benches compare them with.

Why it exists: webhook_throughput and email_throughput compare a sender
that must record each delivery in DynamoDB with a loop that records
nothing, so their ratios are bounded by what one DynamoDB request costs
here (docs/benchmarks.md, "Why the sender ratios stop where they do").

One JSON line per request kind: CPU and wall milliseconds per item, over
`--calls` calls. Usage: .venv/bin/python bench/emulator_costs.py [--calls N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parent.parent
SENDER = "status@bottlenose.example"  # the template's SenderAddress in the local stack
RAW = (f"From: {SENDER}\r\nTo: r@example.com\r\nSubject: [Bottlenose] Mail platform outage\r\n\r\n".encode()
       + b"We have seen a major outage with our email service platform. " * 50)


def measure(label: str, per_call: int, calls: int, call: Callable[[int], Any]) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(calls):
        call(n)
    items = calls * per_call
    return {"bench": "emulator_costs", "request": label, "items_per_request": per_call,
            "cpu_ms_per_item": round((time.process_time() - cpu) / items * 1000, 2),
            "wall_ms_per_item": round((time.perf_counter() - wall) / items * 1000, 2), "calls": calls}


def _main(calls: int) -> list[dict[str, Any]]:
    from status_fanout.api.auth import hash_token
    from status_fanout.delivery.claims import CONDITION
    from status_fanout_local.stack import LocalStack

    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token("bench")}) as stack:
        stack.stop_pollers()
        db, ses, table = boto3.client("dynamodb"), boto3.client("sesv2"), stack.physical["StatusTable"]

        def item(pk: str) -> dict[str, Any]:
            return {"pk": {"S": pk}, "sk": {"S": "#CLAIM"}, "status": {"S": "sent"}, "type": {"S": "mail"}}

        def claim(pk: str) -> dict[str, Any]:
            """The Update that claims an existing delivery (delivery.claims)."""
            return {"TableName": table, "Key": {"pk": {"S": pk}, "sk": {"S": "#CLAIM"}},
                    "UpdateExpression": "SET #s = :sending, lease_until = :lease, #a0 = :a0",
                    "ConditionExpression": CONDITION, "ExpressionAttributeNames": {"#s": "status", "#a0": "type"},
                    "ExpressionAttributeValues": {":sending": {"S": "sending"}, ":done": {"S": "sent"},
                                                  ":now": {"N": "1"}, ":lease": {"N": "100"}, ":a0": {"S": "mail"}}}

        return [
            measure("PutItem", 1, calls, lambda n: db.put_item(TableName=table, Item=item(f"A{n}"))),
            measure("PutItem, attribute_not_exists", 1, calls, lambda n: db.put_item(
                TableName=table, Item=item(f"B{n}"), ConditionExpression="attribute_not_exists(pk)")),
            measure("GetItem", 1, calls, lambda n: db.get_item(
                TableName=table, Key={"pk": {"S": f"B{n}"}, "sk": {"S": "#CLAIM"}}, ConsistentRead=True)),
            measure("UpdateItem, the claim's condition", 1, calls, lambda n: db.update_item(
                **{k: v for k, v in claim(f"C{n}").items()})),
            measure("TransactWriteItems of 10 claim UpdateItems", 10, calls, lambda n: db.transact_write_items(
                TransactItems=[{"Update": claim(f"D{n}-{i}")} for i in range(10)])),
            measure("TransactWriteItems of 10 conditional PutItems", 10, calls, lambda n: db.transact_write_items(
                TransactItems=[{"Put": {"TableName": table, "Item": item(f"E{n}-{i}"),
                                        "ConditionExpression": "attribute_not_exists(pk)"}} for i in range(10)])),
            measure("BatchWriteItem of 25 PutItems", 25, calls, lambda n: db.batch_write_item(
                RequestItems={table: [{"PutRequest": {"Item": item(f"F{n}-{i}")}} for i in range(25)]})),
            measure("BatchGetItem of 10", 10, calls, lambda n: db.batch_get_item(RequestItems={table: {
                "Keys": [{"pk": {"S": f"B{i}"}, "sk": {"S": "#CLAIM"}} for i in range(10)], "ConsistentRead": True}})),
            measure("SES v2 SendEmail, raw", 1, calls, lambda n: ses.send_email(
                FromEmailAddress=SENDER, Destination={"ToAddresses": [f"r{n}@example.com"]},
                Content={"Raw": {"Data": RAW}})),
        ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    # The emulator's and handlers' logs go to stderr; stdout keeps the figures.
    with contextlib.redirect_stdout(sys.stderr):
        lines = _main(args.calls)
    load = round(os.getloadavg()[0], 2)
    for line in lines:
        print(json.dumps({**line, "load1": load}))


if __name__ == "__main__":
    main()
