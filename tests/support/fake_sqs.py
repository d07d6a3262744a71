"""An SQS client for unit tests of one function: it keeps what was sent."""

from __future__ import annotations

import json
from typing import Any


class SentMessages:
    """SendMessageBatch into memory; `sent[queue_url]` holds the decoded bodies."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent.setdefault(QueueUrl, []).extend(json.loads(e["MessageBody"]) for e in Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}
