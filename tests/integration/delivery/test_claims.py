"""Claiming deliveries a batch at a time, against moto server over HTTP with
the table built from template.yaml: what a sender finds when it claims."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from status_fanout.delivery.claims import (
    BUSY,
    CLAIMED,
    DONE,
    TRANSACTION_ITEMS,
    ClaimRequest,
    claim_all,
    finish,
    outcome_item,
)
from status_fanout.delivery.commits import GroupCommit
from status_fanout.dynamo import Store, to_item

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


def test_a_retry_claims_its_item_back_with_what_earlier_attempts_wrote(db: Store) -> None:
    # GIVEN a delivery whose first attempt failed and wrote its history
    new, retried = requests(2)
    claim_all(db, [retried], "sent", NOW, NOW + 60)
    db.call("put_item", Item=to_item({**retried.key, "type": "mail", "status": "failed", "attempts": [{"n": 1}]}))
    # WHEN it is claimed again in a batch with a fresh delivery (the transaction fails on the retried one only)
    found = claim_all(db, [new, retried], "sent", NOW + 5, NOW + 65)
    # THEN both are claimed, and the retry's claim hands back its item with the earlier attempt
    assert found == {new.delivery_id: CLAIMED, retried.delivery_id: CLAIMED}
    assert found.held[retried.delivery_id]["attempts"] == [{"n": 1}]
    assert found.held[new.delivery_id]["status"] == "sending" and "attempts" not in found.held[new.delivery_id]


def test_outcomes_committed_together_are_all_durable(db: Store) -> None:
    # GIVEN 60 claimed deliveries whose workers finish at about the same time
    batch = requests(60)
    claimed = claim_all(db, batch, "sent", NOW, NOW + 60)
    with GroupCommit(db) as commits, ThreadPoolExecutor(max_workers=16) as pool:
        def finish_one(request: ClaimRequest) -> None:
            with commits.working():
                commits.write(outcome_item(claimed.held[request.delivery_id], "sent"))
        # WHEN each hands its outcome to the group commit and waits for it
        list(pool.map(finish_one, batch))
    # THEN every outcome is stored, the lease gone, and none can be claimed again
    stored = db.get_many([(r.key["pk"], r.key["sk"]) for r in batch])
    assert len(stored) == 60 and all(i["status"]["S"] == "sent" and "lease_until" not in i for i in stored.values())
    assert set(claim_all(db, batch, "sent", NOW + 1, NOW + 61).values()) == {DONE}
