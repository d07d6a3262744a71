"""The local emulator behaves as DynamoDB does where our code depends on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from status_fanout_local.emulator import Emulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = Emulator()
    running.start()
    yield running
    running.stop()


def test_a_cancelled_transaction_leaves_the_stream_flowing(emulator: Emulator) -> None:
    # GIVEN a table with a stream and a consumer holding a shard iterator
    db, streams = emulator.client("dynamodb"), emulator.client("dynamodbstreams")
    table = db.create_table(
        TableName="streamed", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    shard = streams.describe_stream(StreamArn=table["LatestStreamArn"])["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(StreamArn=table["LatestStreamArn"], ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    db.put_item(TableName="streamed", Item={"pk": {"S": "taken"}})

    def keys() -> list[str]:
        nonlocal iterator
        response: dict[str, Any] = streams.get_records(ShardIterator=iterator)
        iterator = response["NextShardIterator"]
        return [r["dynamodb"]["Keys"]["pk"]["S"] for r in response["Records"]]

    assert keys() == ["taken"]
    # WHEN a transaction writes one item, then fails its condition on another
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(TransactItems=[
            {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "rolled-back"}}}},
            {"Put": {"TableName": "streamed", "Item": {"pk": {"S": "taken"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    db.put_item(TableName="streamed", Item={"pk": {"S": "after"}})
    # THEN the consumer sees the later write on the iterator it already had,
    # and never the write that was rolled back
    assert keys() == ["after"]
    assert "Item" not in db.get_item(TableName="streamed", Key={"pk": {"S": "rolled-back"}})


def test_a_cancelled_transaction_restores_what_it_wrote_and_keeps_every_other_item(emulator: Emulator) -> None:
    # GIVEN a table with a sort key, items in three partitions
    db = emulator.client("dynamodb")
    db.create_table(
        TableName="rolled", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
    )
    for pk, sk in [("a", "1"), ("a", "2"), ("b", "1"), ("c", "1")]:
        db.put_item(TableName="rolled", Item={"pk": {"S": pk}, "sk": {"S": sk}, "n": {"N": "0"}})

    def table() -> dict[tuple[str, str], str]:
        items = db.scan(TableName="rolled")["Items"]
        return {(i["pk"]["S"], i["sk"]["S"]): i["n"]["N"] for i in items}

    before = table()
    # WHEN a transaction updates one item, overwrites another, adds a third
    # in a new partition and then fails its condition
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(TransactItems=[
            {"Update": {"TableName": "rolled", "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": "1"}}}},
            {"Put": {"TableName": "rolled", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}, "n": {"N": "2"}}}},
            {"Put": {"TableName": "rolled", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}, "n": {"N": "3"}}}},
            {"ConditionCheck": {"TableName": "rolled", "Key": {"pk": {"S": "b"}, "sk": {"S": "1"}},
                                "ConditionExpression": "n = :x", "ExpressionAttributeValues": {":x": {"N": "9"}}}},
        ])
    # THEN the table is as it was, and a write to an untouched partition afterwards lands
    assert table() == before
    db.put_item(TableName="rolled", Item={"pk": {"S": "c"}, "sk": {"S": "2"}, "n": {"N": "5"}})
    assert table() == before | {("c", "2"): "5"}
