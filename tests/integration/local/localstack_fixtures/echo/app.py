"""Toy API handler: answers with the event and context it was given."""

import json
import os
from typing import Any

COLD_START_ENV = {name: os.environ.get(name) for name in ("TABLE_NAME", "GREETING", "SECRET", "SITE_URL")}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event["resource"] == "/boom":
        raise RuntimeError("boom")
    answer = {
        "event": event,
        "env": COLD_START_ENV | {"WORK_QUEUE_URL": os.environ.get("WORK_QUEUE_URL"), "TOPIC": os.environ.get("TOPIC")},
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps(answer),
        "isBase64Encoded": False,
    }
