"""Email subscribers on the one table (docs/data-model.md, docs/email.md).

- `SUBSCRIBER#{id}` / `#META`: the subscriber (address, state, components);
  gsi1 `SUBSCRIBERS#{state}` and gsi2 `SUBSCRIBERS` list them for staff.
- `ADDR#{keyed hash of the address}` / `#ADDR`: address → subscriber id, so a
  subscribe or a bounce finds its subscriber with one read, never a scan.
- `SUB#email#{bucket}#{shard}` / `{id}`: the fan-out index, written in the
  same transaction as the subscriber, present only while it is confirmed.
- `THROTTLE#{scope}#{key}` / `{window}`: conditional counters with a TTL.
"""

from __future__ import annotations

import random
import time
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from status_fanout.delivery.claims import ClaimRequest
from status_fanout.delivery.subscriber_index import index_keys, index_writes
from status_fanout.dynamo import (
    BadCursorError,
    Store,
    VersionConflict,
    decode_cursor,
    encode_cursor,
    from_item,
    to_item,
)
from status_fanout.errors import ConflictError

CHANNEL = "email"
META_SK = "#META"
ADDRESS_SK = "#ADDR"
ALL_SUBSCRIBERS = "SUBSCRIBERS"
MAIL_CLAIM_SK = "#CLAIM"
# A mail sent is remembered for 7 days: far longer than any retry of its job.
MAIL_CLAIM_DAYS = 7
# A transaction cancelled by taken addresses is sent again without them; each
# try removes at least one subscriber, or waits out another writer.
CREATE_ATTEMPTS = 8
SubscriberState = Literal["pending", "confirmed", "unsubscribed", "suppressed"]
STATES: tuple[str, ...] = SubscriberState.__args__  # type: ignore[attr-defined]


def state_filter(value: str | None) -> str | None:
    """A staff query's `state` (the list, the export): absent, or one of STATES."""
    if value is not None and value not in STATES:
        raise ValueError(f"must be one of {', '.join(STATES)}")
    return value


class Subscriber(BaseModel):
    model_config = ConfigDict(defer_build=True)
    id: str
    email: str
    address_key: str
    components: list[str] = Field(default_factory=list)
    state: SubscriberState = "pending"
    created_at: str
    updated_at: str
    confirmed_at: str | None = None
    unsubscribed_at: str | None = None
    suppressed_at: str | None = None
    suppressed_reason: str | None = None
    soft_bounces: int = 0
    # Set on subscribers made by POST /v1/subscribers/import; `consent` is
    # "confirmed_elsewhere" on those imported confirmed (no opt-in mail here).
    imported_at: str | None = None
    consent: str | None = None
    version: int = 0

    def wants(self, component_ids: list[str]) -> bool:
        return not self.components or bool(set(self.components) & set(component_ids))

    def public(self) -> dict[str, Any]:
        return self.model_dump(exclude={"address_key", "version"})


def _subscriber_item(subscriber: Subscriber) -> dict[str, Any]:
    return to_item({
        "pk": subscriber_pk(subscriber.id), "sk": META_SK, "type": "subscriber",
        "gsi1pk": f"{ALL_SUBSCRIBERS}#{subscriber.state}", "gsi1sk": f"{subscriber.created_at}#{subscriber.id}",
        "gsi2pk": ALL_SUBSCRIBERS, "gsi2sk": f"{subscriber.created_at}#{subscriber.id}", **subscriber.model_dump()})


def _address_item(subscriber: Subscriber) -> dict[str, Any]:
    return to_item({"pk": address_pk(subscriber.address_key), "sk": ADDRESS_SK, "type": "address",
                    "subscriber_id": subscriber.id})


def subscriber_pk(subscriber_id: str) -> str:
    return f"SUBSCRIBER#{subscriber_id}"


def address_pk(key: str) -> str:
    return f"ADDR#{key}"


class SubscriberStore:
    def __init__(self, db: Store, shards: int) -> None:
        self.db = db
        self.shards = shards

    def _index(self, subscriber: Subscriber | None) -> set[tuple[str, str]]:
        if subscriber is None or subscriber.state != "confirmed":
            return set()  # only confirmed subscribers are ever planned
        return index_keys(CHANNEL, subscriber.id, subscriber.components, self.shards)

    def save(self, subscriber: Subscriber, previous: Subscriber | None) -> Subscriber:
        """Write the subscriber (and, when new, its address key) with its index items, atomically."""
        saved = subscriber.model_copy(update={"version": (previous.version if previous else 0) + 1})
        table = self.db.table_name
        head: dict[str, Any] = {"TableName": table, "Item": _subscriber_item(saved)}
        items: list[dict[str, Any]] = []
        if previous is None:
            head["ConditionExpression"] = "attribute_not_exists(pk)"
            items.append({"Put": {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)",
                                  "Item": _address_item(saved)}})
        else:
            head["ConditionExpression"] = "version = :v"
            head["ExpressionAttributeValues"] = {":v": {"N": str(previous.version)}}
        items.insert(0, {"Put": head})
        items += index_writes(table, CHANNEL, self._index(previous), self._index(saved))
        try:
            self.db.transact(items)
        except VersionConflict as exc:
            raise ConflictError("the subscriber changed meanwhile") from exc
        return saved

    # --- many at once (POST /v1/subscribers/import, GET /v1/subscribers/export) ----------

    def creation_size(self, subscriber: Subscriber) -> int:
        """How many transaction items creating this subscriber takes (at most 100 a transaction)."""
        return 2 + len(self._index(subscriber))

    def create_new(self, subscribers: list[Subscriber]) -> tuple[list[Subscriber], dict[str, str]]:
        """Create each of these subscribers whose address has no subscriber yet, in one
        TransactWriteItems (size the list with `creation_size`): the address keys are
        put on `attribute_not_exists`, so an address is never taken twice, not even by
        a concurrent subscribe. A transaction cancelled by taken addresses says which
        (and, ALL_OLD, by whom); it is sent again without them.

        Returns the subscribers created and, by address key, the id of the subscriber
        already holding each other address ("" when DynamoDB did not say)."""
        waiting = [s.model_copy(update={"version": 1}) for s in subscribers]
        taken: dict[str, str] = {}
        for attempt in range(CREATE_ATTEMPTS):
            if not waiting:
                break
            items: list[dict[str, Any]] = []
            owners: list[Subscriber] = []
            for subscriber in waiting:
                writes = self._creation_items(subscriber)
                items += writes
                owners += [subscriber] * len(writes)
            try:
                self.db.transact(items)
                return waiting, taken
            except VersionConflict as exc:
                failed = {owners[i].id: old for i, (reason, old)
                          in enumerate(zip(exc.reasons, exc.old_items, strict=False))
                          if reason == "ConditionalCheckFailed" and i < len(owners)}
                if not failed and "TransactionConflict" not in exc.reasons:
                    failed = self._holders(waiting)  # DynamoDB did not say which: look
                for subscriber in waiting:
                    if subscriber.id in failed:
                        old = failed[subscriber.id] or {}
                        taken[subscriber.address_key] = str((old.get("subscriber_id") or {}).get("S", ""))
                waiting = [s for s in waiting if s.id not in failed]
                if "TransactionConflict" in exc.reasons:  # another writer holds one of the items: a moment
                    time.sleep(random.uniform(0, min(0.25, 0.01 * 2**attempt)))
        if waiting:
            raise ConflictError("the subscribers changed concurrently too many times; retry the import")
        return [], taken

    def _creation_items(self, subscriber: Subscriber) -> list[dict[str, Any]]:
        table = self.db.table_name
        return [
            {"Put": {"TableName": table, "Item": _address_item(subscriber),
                     "ConditionExpression": "attribute_not_exists(pk)",
                     "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Put": {"TableName": table, "Item": _subscriber_item(subscriber),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            *index_writes(table, CHANNEL, set(), self._index(subscriber)),
        ]

    def _holders(self, subscribers: list[Subscriber]) -> dict[str, dict[str, Any] | None]:
        """By subscriber id, the address item of each of these subscribers' addresses already taken."""
        found = self.db.get_many((address_pk(s.address_key), ADDRESS_SK) for s in subscribers)
        return {s.id: found[(address_pk(s.address_key), ADDRESS_SK)] for s in subscribers
                if (address_pk(s.address_key), ADDRESS_SK) in found}

    def export_page(self, state: str | None, limit: int, cursor: str | None
                    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` subscribers, oldest first, as {email, components, state, created}
        (only those attributes are read back), and the cursor of the rest. Pages through
        the index (1 MB a Query) until `limit` or the end."""
        index, pk = ("gsi1", f"{ALL_SUBSCRIBERS}#{state}") if state else ("gsi2", ALL_SUBSCRIBERS)
        keys = ("pk", "sk", f"{index}pk", f"{index}sk")
        start = decode_cursor(cursor, keys)
        if start and start[f"{index}pk"]["S"] != pk:
            raise BadCursorError("cursor is not one this API returned", [{"field": "cursor"}])
        rows: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        while len(rows) < limit:
            kwargs: dict[str, Any] = {
                "IndexName": index, "KeyConditionExpression": f"{index}pk = :p",
                "ExpressionAttributeValues": {":p": {"S": pk}}, "Limit": limit - len(rows),
                "ProjectionExpression": "email, components, #s, created_at, " + ", ".join(keys),
                "ExpressionAttributeNames": {"#s": "state"},
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self.db.call("query", **kwargs)
            for item in page.get("Items", []):
                rows.append({"email": item["email"]["S"],
                             "components": [c["S"] for c in (item.get("components") or {}).get("L", [])],
                             "state": item["state"]["S"], "created": item["created_at"]["S"],
                             "_key": {k: item[k] for k in keys}})
            start = last = page.get("LastEvaluatedKey")
            if not start:
                break
        return rows, encode_cursor(last)

    def delete(self, subscriber: Subscriber) -> None:
        table = self.db.table_name
        keys = [(subscriber_pk(subscriber.id), META_SK), (address_pk(subscriber.address_key), ADDRESS_SK),
                *sorted(self._index(subscriber))]
        items = [{"Delete": {"TableName": table, "Key": to_item({"pk": pk, "sk": sk})}} for pk, sk in keys]
        try:
            self.db.transact(items)
        except VersionConflict as exc:
            raise ConflictError("the subscriber changed meanwhile") from exc

    def get(self, subscriber_id: str) -> Subscriber | None:
        item = self.db.call("get_item", Key=to_item({"pk": subscriber_pk(subscriber_id), "sk": META_SK}),
                            ConsistentRead=True).get("Item")
        return Subscriber.model_validate(from_item(item)) if item else None

    def get_many(self, subscriber_ids: list[str]) -> dict[str, Subscriber]:
        """The subscribers that exist among these ids, in BatchGetItem calls."""
        items = self.db.get_many((subscriber_pk(i), META_SK) for i in subscriber_ids)
        found = (Subscriber.model_validate(from_item(item)) for item in items.values())
        return {subscriber.id: subscriber for subscriber in found}

    def mail_claim(self, mail_id: str, now: int) -> ClaimRequest:
        """Where a mail's claim lives (a delivery id, or `subscribe:{request}` for a confirmation)."""
        return ClaimRequest(mail_id, {"pk": f"MAIL#{mail_id}", "sk": MAIL_CLAIM_SK},
                            {"type": "mail", "expires_at": now + MAIL_CLAIM_DAYS * 86400})

    def find(self, key: str) -> Subscriber | None:
        """The subscriber of an address key, by one read of the key and one of the subscriber."""
        item = self.db.call("get_item", Key=to_item({"pk": address_pk(key), "sk": ADDRESS_SK}),
                            ConsistentRead=True).get("Item")
        return self.get(str(item["subscriber_id"]["S"])) if item else None

    def list(self, state: str | None, limit: int, cursor: str | None) -> tuple[list[Subscriber], str | None]:
        index, pk = ("gsi1", f"{ALL_SUBSCRIBERS}#{state}") if state else ("gsi2", ALL_SUBSCRIBERS)
        kwargs: dict[str, Any] = {
            "IndexName": index, "KeyConditionExpression": f"{index}pk = :p",
            "ExpressionAttributeValues": {":p": {"S": pk}}, "ScanIndexForward": False, "Limit": limit,
        }
        start = decode_cursor(cursor, ("pk", "sk", f"{index}pk", f"{index}sk"))
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.db.call("query", **kwargs)
        found = [Subscriber.model_validate(from_item(i)) for i in page.get("Items", [])]
        return found, encode_cursor(page.get("LastEvaluatedKey"))

    def count_soft_bounce(self, subscriber_id: str) -> None:
        try:
            self.db.call("update_item", Key=to_item({"pk": subscriber_pk(subscriber_id), "sk": META_SK}),
                         UpdateExpression="ADD soft_bounces :one", ConditionExpression="attribute_exists(pk)",
                         ExpressionAttributeValues={":one": {"N": "1"}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def take(self, scope: str, key: str, limit: int, window_seconds: int, now: float) -> int:
        """Count one use of (scope, key) in the current fixed window.

        Returns 0 when the use is within `limit`, else the seconds until the
        window ends. One conditional UpdateItem: concurrent requests cannot
        both take the last slot; the item expires (TTL) after its window."""
        window = int(now // window_seconds)
        retry_after = max(1, int((window + 1) * window_seconds - now))
        try:
            self.db.call(
                "update_item", Key=to_item({"pk": f"THROTTLE#{scope}#{key}", "sk": str(window)}),
                UpdateExpression="ADD uses :one SET expires_at = if_not_exists(expires_at, :exp), #t = :type",
                ConditionExpression="attribute_not_exists(uses) OR uses < :limit",
                ExpressionAttributeNames={"#t": "type"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(limit)},
                                           ":exp": {"N": str((window + 1) * window_seconds + 60)},
                                           ":type": {"S": "throttle"}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return retry_after
        return 0
