"""Claiming a batch of deliveries at once, so that none is made twice.

A claim is the `status` of the delivery's own item: `sending` with a lease
while an attempt runs, then the attempt's outcome. A delivery can be claimed
unless it is done (webhooks `delivered`, email `sent`) or another attempt's
lease is still running.

Most deliveries are new, so a batch is claimed with conditional Puts of the
whole item (`attribute_not_exists`) in one TransactWriteItems (≤ 100 items),
the cheapest conditional write there is. Where the item exists (a retry, a
replay, a redrive, a duplicate message), the transaction says which items
failed their condition; those are claimed one by one with a conditional
Update that also returns the item, and the rest go in another transaction.
Every claim hands back the item as the claim left it, so the attempt's
outcome is one plain Put of the whole item (`delivery.commits`), group-
committed with the batch's other outcomes.

A claim left `sending` by a crashed invocation is taken over once its lease
(the invocation's remaining time) has passed. A crash after the send and
before the outcome's commit therefore sends again: at least once in that
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

CHECK_FAILED = "ConditionalCheckFailed"
CONDITION = "attribute_not_exists(#s) OR (#s <> :done AND (#s <> :sending OR lease_until < :now))"


@dataclass(frozen=True)
class ClaimRequest:
    delivery_id: str
    key: Mapping[str, str]
    # Written with the claim, so the item reads whole while `sending`.
    attributes: Mapping[str, Any] = field(default_factory=dict)


class Claimed(dict[str, str]):
    """Delivery id → CLAIMED, DONE or BUSY; `held` has the item of each delivery
    claimed, as the claim left it (plain values)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[str, dict[str, Any]] = {}


def claim_all(db: Store, requests: Sequence[ClaimRequest], done_status: str, now: int,
              lease_until: int) -> Claimed:
    """Claim each delivery."""
    claimed = Claimed()
    pending = list(requests)
    while pending:
        chunk, pending = pending[:TRANSACTION_ITEMS], pending[TRANSACTION_ITEMS:]
        items = [_claim_item(request, lease_until) for request in chunk]
        try:
            db.transact([{"Put": {"TableName": db.table_name, "Item": to_item(item),
                                  "ConditionExpression": "attribute_not_exists(pk)"}} for item in items])
        except VersionConflict as conflict:
            # Without a reason per item, every item is looked at one by one.
            reasons = conflict.reasons if len(conflict.reasons) == len(chunk) else [CHECK_FAILED] * len(chunk)
            retry = []
            for request, reason in zip(chunk, reasons, strict=True):
                if reason == CHECK_FAILED:  # it exists: see whether it can be claimed
                    state, item = _claim_existing(db, request, done_status, now, lease_until)
                    claimed[request.delivery_id] = state
                    if item is not None:
                        claimed.held[request.delivery_id] = item
                else:  # cancelled only because another item failed
                    retry.append(request)
            pending = retry + pending
            continue
        for request, item in zip(chunk, items, strict=True):
            claimed[request.delivery_id] = CLAIMED
            claimed.held[request.delivery_id] = item
    return claimed


def _claim_item(request: ClaimRequest, lease_until: int) -> dict[str, Any]:
    return {**request.key, **request.attributes, "status": SENDING, "lease_until": lease_until}


def _claim_existing(db: Store, request: ClaimRequest, done_status: str, now: int,
                    lease_until: int) -> tuple[str, dict[str, Any] | None]:
    names = {"#s": "status"}
    sets = ["#s = :sending", "lease_until = :lease"]
    values = to_item({":sending": SENDING, ":done": done_status, ":now": now, ":lease": lease_until})
    for n, (name, value) in enumerate(sorted(request.attributes.items())):
        names[f"#a{n}"] = name
        sets.append(f"#a{n} = :a{n}")
        values |= to_item({f":a{n}": value})
    key = to_item(dict(request.key))
    try:
        reply = db.call("update_item", Key=key, UpdateExpression="SET " + ", ".join(sets),
                        ConditionExpression=CONDITION, ExpressionAttributeNames=names,
                        ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        item = db.call("get_item", Key=key, ConsistentRead=True).get("Item")
        status = from_item(item).get("status") if item else None
        return (DONE if status == done_status else BUSY), None
    return CLAIMED, from_item(reply["Attributes"])


def finish(db: Store, key: Mapping[str, str], status: str) -> None:
    """End a claim with its outcome: `done_status` for good; any other lets the
    next attempt (a retry, a replay) claim it."""
    db.call("update_item", Key=to_item(dict(key)), UpdateExpression="SET #s = :s REMOVE lease_until",
            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=to_item({":s": status}))


def outcome_item(held: Mapping[str, Any], status: str, **changes: Any) -> dict[str, Any]:
    """The delivery's item once its attempt ended: the claim's item, its lease
    gone, with the outcome and the channel's `changes`."""
    item = {k: v for k, v in held.items() if k != "lease_until"}
    return {**item, "status": status, **changes}


class Claims:
    """The claims of one table, as the delivery engine uses them."""

    def __init__(self, db: Store) -> None:
        self.db = db

    def claim_all(self, requests: Sequence[ClaimRequest], done_status: str, now: int,
                  lease_until: int) -> Claimed:
        return claim_all(self.db, requests, done_status, now, lease_until)

    def release(self, request: ClaimRequest) -> None:
        """An attempt broke off without an outcome: let the next attempt claim it."""
        finish(self.db, request.key, "failed")
