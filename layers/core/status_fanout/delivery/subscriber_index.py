"""The sharded subscriber index every channel shares (docs/fan-out.md).

A subscriber of channel C that wants components X and Y has one index item in
each of `SUB#C#c:X#{shard}` and `SUB#C#c:Y#{shard}`; one that wants everything
has one item in `SUB#C#all#{shard}`. The shard is a hash of the subscriber's
id, so all of its entries land in the same shard. The items are written in
the same transaction as the subscriber itself (`index_writes`), and the
planner pages through one shard's partitions per planning job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from status_fanout.dynamo import Store, from_item, to_item

ALL = "all"


def shard_of(subscriber_id: str, shards: int) -> int:
    """Stable shard of a subscriber: its index entries always land together."""
    return int.from_bytes(hashlib.sha256(subscriber_id.encode()).digest()[:4], "big") % shards


def index_pk(channel: str, bucket: str, shard: int) -> str:
    """One partition per (channel, component or "all", shard)."""
    return f"SUB#{channel}#{bucket}#{shard:03d}"


def buckets_of(components: Iterable[str]) -> list[str]:
    components = list(components)
    return [f"c:{c}" for c in components] if components else [ALL]


def index_keys(channel: str, subscriber_id: str, components: Iterable[str], shards: int) -> set[tuple[str, str]]:
    """(pk, sk) of every index item of one subscriber."""
    shard = shard_of(subscriber_id, shards)
    return {(index_pk(channel, bucket, shard), subscriber_id) for bucket in buckets_of(components)}


def index_writes(table: str, channel: str, old: set[tuple[str, str]], new: set[tuple[str, str]],
                 attributes: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """TransactWriteItems entries that move a subscriber's index items from `old` to `new`.

    Pass `old` = `new` with changed `attributes` to rewrite them in place."""
    items: list[dict[str, Any]] = []
    for pk, sk in sorted(old - new):
        items.append({"Delete": {"TableName": table, "Key": to_item({"pk": pk, "sk": sk})}})
    for pk, sk in sorted(new):
        items.append({"Put": {"TableName": table, "Item": to_item(
            {"pk": pk, "sk": sk, "type": "subscription", "channel": pk.split("#", 2)[1], **(attributes or {})})}})
    return items


# Index items per page. A full 1 MB page (~16,000 subscribers) takes the
# planner ~50 s to enqueue; 1,000 keep every page to a few seconds, so a
# planning job can always stop between two pages inside its invocation.
PAGE_ITEMS = 1000


def subscribers_page(db: Store, channel: str, bucket: str, shard: int,
                     start: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page (PAGE_ITEMS, or 1 MB) of one index partition: subscriber ids and their filters."""
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": index_pk(channel, bucket, shard)}},
        "Limit": PAGE_ITEMS,
    }
    if start:
        kwargs["ExclusiveStartKey"] = start
    page = db.call("query", **kwargs)
    return [from_item(i) for i in page.get("Items", [])], page.get("LastEvaluatedKey")


class SubscriberIndex:
    """The index as the planner reads it: pages of one (channel, bucket, shard) partition."""

    def __init__(self, db: Store) -> None:
        self.db = db

    def subscribers_page(self, channel: str, bucket: str, shard: int,
                         start: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        return subscribers_page(self.db, channel, bucket, shard, start)
