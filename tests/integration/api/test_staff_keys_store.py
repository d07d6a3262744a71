"""Staff keys' data layer against moto server, the table built from
template.yaml: only digests stored, lookups cached, last use written once a minute."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from status_fanout import staff_keys
from status_fanout.dynamo import Store
from status_fanout.staff_keys import KeyCreate, StaffKeys, digest_of

pytestmark = pytest.mark.integration


class CountingClient:
    """The real client, counting the calls it passes on."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def counted(**kwargs: Any) -> Any:
            self.calls.append(name)
            return method(**kwargs)

        return counted


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def table(stack: Any) -> str:
    return str(stack.physical["StatusTable"])


def test_the_table_holds_the_digest_and_never_the_key(table: str) -> None:
    # GIVEN a minted key
    key, token = StaffKeys(Store(table, boto3.client("dynamodb"))).create(KeyCreate(name="dana", role="viewer"))
    # THEN no item of the table holds the key itself; the lookup item is keyed by its digest
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    assert token not in json.dumps(items)
    assert any(i["pk"]["S"] == f"KEY#{digest_of(token)}" for i in items)
    assert key.digest == digest_of(token)


def test_lookups_are_cached_and_last_use_is_written_at_most_once_a_minute(table: str) -> None:
    clock = Clock()
    client = CountingClient(boto3.client("dynamodb"))
    keys = StaffKeys(Store(table, client), clock=clock)
    _, token = keys.create(KeyCreate(name="erin", role="responder"))
    digest = digest_of(token)
    client.calls.clear()
    # WHEN the key is used many times in a burst
    for _ in range(20):
        assert keys.lookup(digest) is not None
    # THEN one read and one write of its last use
    assert client.calls == ["get_item", "update_item"]
    # AND once the cache expired, within the minute: a read, no write
    staff_keys.forget()
    clock.now += timedelta(seconds=30)
    assert keys.lookup(digest) is not None
    assert client.calls == ["get_item", "update_item", "get_item"]
    # AND a minute after the last write: written again
    staff_keys.forget()
    clock.now += timedelta(seconds=31)
    used = keys.lookup(digest)
    assert client.calls[-2:] == ["get_item", "update_item"]
    assert used is not None and used.last_used_at == "2026-12-02T09:01:01.000Z"


def test_another_container_refuses_a_revoked_key_once_its_cache_entry_expires(table: str) -> None:
    # GIVEN a key this container looked up (and cached)
    keys = StaffKeys(Store(table, boto3.client("dynamodb")))
    _, token = keys.create(KeyCreate(name="frank", role="admin"))
    assert keys.lookup(digest_of(token)) is not None
    # WHEN another container revokes it (its DELETE does not reach this cache)
    listed, _ = keys.list(100, None)
    key_id = next(k.key_id for k in listed if k.name == "frank")
    raw = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"KEYID#{key_id}"},
                                                                  "sk": {"S": "#KEYID"}})["Item"]
    boto3.client("dynamodb").delete_item(TableName=table, Key={"pk": {"S": f"KEY#{raw['digest']['S']}"},
                                                               "sk": {"S": "#KEY"}})
    # THEN the cached entry still answers until it expires, and then the key is refused
    assert keys.lookup(digest_of(token)) is not None
    with staff_keys._cache_lock:
        staff_keys._cache[digest_of(token)] = (0.0, staff_keys._cache[digest_of(token)][1])  # expired
    assert keys.lookup(digest_of(token)) is None
