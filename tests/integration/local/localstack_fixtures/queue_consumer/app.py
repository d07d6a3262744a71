"""Toy SQS consumer: stores each message in the bucket; a message whose body
says "poison" fails every time, so it must end in the dead-letter queue."""

import json
import os
from typing import Any

import boto3

s3 = boto3.client("s3")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        if record["body"] == "poison":
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        s3.put_object(
            Bucket=os.environ["PUBLIC_BUCKET"],
            Key=f"seen/queue/{record['messageId']}.json",
            Body=json.dumps(record).encode(),
        )
    return {"batchItemFailures": failures}
