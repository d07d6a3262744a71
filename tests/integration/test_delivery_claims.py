"""Claiming deliveries a batch at a time, against moto server over HTTP with
the table built from template.yaml: what a sender finds when it claims."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from status_fanout.delivery.claims import BUSY, CLAIMED, DONE, TRANSACTION_ITEMS, ClaimRequest, claim_all, finish
from status_fanout.dynamo import Store

pytestmark = pytest.mark.integration
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def db(stack: Any) -> Store:
    return Store(stack.physical["StatusTable"], boto3.client("dynamodb"))


def requests(n: int) -> list[ClaimRequest]:
    run = uuid.uuid4().hex[:8]
    return [ClaimRequest(f"d{run}{i}", {"pk": f"CLAIMTEST#{run}{i}", "sk": "#CLAIM"}, {"type": "mail"})
            for i in range(n)]


def test_a_fresh_batch_is_claimed_whole_and_then_busy_until_its_lease_ends(db: Store) -> None:
    # GIVEN deliveries nobody has claimed
    batch = requests(3)
    # WHEN a sender claims them, and a second sender tries while the first's lease runs
    first = claim_all(db, batch, "sent", NOW, NOW + 60)
    second = claim_all(db, batch, "sent", NOW + 10, NOW + 70)
    # THEN the first has them all, the second none
    assert set(first.values()) == {CLAIMED} and len(first) == 3
    assert set(second.values()) == {BUSY}
    # AND once the lease is over (the first sender died), the next sender takes them over
    assert set(claim_all(db, batch, "sent", NOW + 61, NOW + 121).values()) == {CLAIMED}


def test_a_done_delivery_is_never_claimed_again_and_a_failed_one_is(db: Store) -> None:
    # GIVEN a batch in which one delivery was sent and one failed (its retry is due)
    batch = requests(4)
    claim_all(db, batch[:2], "sent", NOW, NOW + 60)
    finish(db, batch[0].key, "sent")
    finish(db, batch[1].key, "failed")
    # WHEN the whole batch is claimed (a duplicate message joins two fresh ones)
    found = claim_all(db, batch, "sent", NOW + 1, NOW + 61)
    # THEN the sent one is reported done, every other one is claimed
    assert found == {batch[0].delivery_id: DONE, batch[1].delivery_id: CLAIMED,
                     batch[2].delivery_id: CLAIMED, batch[3].delivery_id: CLAIMED}
    # AND the claim item reads whole while it is held
    item = db.call("get_item", Key={"pk": {"S": batch[2].key["pk"]}, "sk": {"S": "#CLAIM"}})["Item"]
    assert item["status"]["S"] == "sending" and item["type"]["S"] == "mail"
    assert int(item["lease_until"]["N"]) == NOW + 61


def test_more_than_one_transaction_of_deliveries_is_claimed(db: Store) -> None:
    # GIVEN more deliveries than one transaction holds
    batch = requests(TRANSACTION_ITEMS + 5)
    # WHEN they are claimed
    found = claim_all(db, batch, "sent", NOW, NOW + 60)
    # THEN every one is claimed
    assert len(found) == TRANSACTION_ITEMS + 5 and set(found.values()) == {CLAIMED}


def test_one_transaction_cannot_claim_a_delivery_twice(db: Store) -> None:
    # GIVEN a batch naming one delivery twice (the senders keep the first of each, queue_jobs.first_per_key)
    (once,) = requests(1)
    # WHEN both are claimed in one transaction
    # THEN DynamoDB (and the emulator) refuse the whole request
    with pytest.raises(ClientError):
        claim_all(db, [once, once], "sent", NOW, NOW + 60)
