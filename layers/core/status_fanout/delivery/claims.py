"""Claiming a batch of deliveries at once, so that none is made twice.

A claim is the `status` of the delivery's own item: `sending` with a lease
while an attempt runs, then the attempt's outcome. A delivery can be claimed
unless it is done (webhooks `delivered`, email `sent`) or another attempt's
lease is still running. The sender claims every delivery of its SQS batch
in one TransactWriteItems (≤ 100 items each) instead of a conditional write
per delivery, then completes each delivery with one write as soon as its
attempt ends, so a crash mid-batch loses at most the attempts in flight.

A claim left `sending` by a crashed invocation is taken over once its lease
(the invocation's remaining time) has passed. A crash after the send and
before the completion write therefore sends again: at least once in that
window, as with any claim-then-act scheme; webhook receivers dedupe on
`webhook-id`, mail on `Message-ID`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from status_fanout.dynamo import Store, VersionConflict, from_item, to_item

SENDING = "sending"
TRANSACTION_ITEMS = 100  # DynamoDB's ceiling per TransactWriteItems

# What a claim found: ours to attempt, made already, or in another attempt's hands.
CLAIMED, DONE, BUSY = "claimed", "done", "busy"

CONDITION = "attribute_not_exists(#s) OR (#s <> :done AND (#s <> :sending OR lease_until < :now))"


@dataclass(frozen=True)
class ClaimRequest:
    delivery_id: str
    key: Mapping[str, str]
    # Written with the claim, so the item reads whole while `sending`.
    attributes: Mapping[str, Any] = field(default_factory=dict)


def claim_all(db: Store, requests: Sequence[ClaimRequest], done_status: str, now: int,
              lease_until: int) -> dict[str, str]:
    """Claim each delivery; returns delivery id → CLAIMED, DONE or BUSY."""
    outcome: dict[str, str] = {}
    for start in range(0, len(requests), TRANSACTION_ITEMS):
        chunk = requests[start:start + TRANSACTION_ITEMS]
        updates = [_claim_update(db.table_name, r, done_status, now, lease_until) for r in chunk]
        try:
            db.transact([{"Update": update} for update in updates])
        except VersionConflict:
            # Some delivery of the chunk is done or busy (a duplicate message,
            # a replay racing a retry): rare, so sort them out one by one.
            for request, update in zip(chunk, updates, strict=True):
                outcome[request.delivery_id] = _claim_one(db, update, done_status)
            continue
        outcome.update(dict.fromkeys((r.delivery_id for r in chunk), CLAIMED))
    return outcome


def _claim_update(table: str, request: ClaimRequest, done_status: str, now: int,
                  lease_until: int) -> dict[str, Any]:
    names = {"#s": "status"}
    sets = ["#s = :sending", "lease_until = :lease"]
    values = to_item({":sending": SENDING, ":done": done_status, ":now": now, ":lease": lease_until})
    for n, (name, value) in enumerate(sorted(request.attributes.items())):
        names[f"#a{n}"] = name
        sets.append(f"#a{n} = :a{n}")
        values |= to_item({f":a{n}": value})
    return {"TableName": table, "Key": to_item(dict(request.key)), "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": CONDITION, "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values}


def _claim_one(db: Store, update: Mapping[str, Any], done_status: str) -> str:
    try:
        db.call("update_item", **{k: v for k, v in update.items() if k != "TableName"})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        item = db.call("get_item", Key=update["Key"], ConsistentRead=True).get("Item")
        status = from_item(item).get("status") if item else None
        return DONE if status == done_status else BUSY
    return CLAIMED


def finish(db: Store, key: Mapping[str, str], status: str) -> None:
    """End a claim with its outcome: `done_status` for good; any other lets the
    next attempt (a retry, a replay) claim it."""
    db.call("update_item", Key=to_item(dict(key)), UpdateExpression="SET #s = :s REMOVE lease_until",
            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=to_item({":s": status}))


class Claims:
    """The claims of one table, as the delivery engine uses them."""

    def __init__(self, db: Store) -> None:
        self.db = db

    def claim_all(self, requests: Sequence[ClaimRequest], done_status: str, now: int,
                  lease_until: int) -> dict[str, str]:
        return claim_all(self.db, requests, done_status, now, lease_until)

    def release(self, request: ClaimRequest) -> None:
        """An attempt broke off without an outcome: let the next attempt claim it."""
        finish(self.db, request.key, "failed")
