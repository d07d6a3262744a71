"""Toy stream consumer: stores each record it saw in the bucket; reports
records whose new image has poison=true as failed."""

import json
import os
from typing import Any

import boto3

s3 = boto3.client("s3")


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        new_image = record["dynamodb"].get("NewImage", {})
        if new_image.get("poison", {}).get("BOOL"):
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
            continue
        s3.put_object(
            Bucket=os.environ["PUBLIC_BUCKET"],
            Key=f"seen/stream/{record['dynamodb']['SequenceNumber']}.json",
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )
    return {"batchItemFailures": failures}
