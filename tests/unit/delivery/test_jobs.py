"""Reading queue jobs: poison is named, shared loads happen once per batch."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from status_fanout.delivery.jobs import DELIVERY_JOB_FIELDS, BatchMemo, PoisonMessage, parse_job
from status_fanout.delivery.retry import MAX_BACKOFF, backoff


@pytest.mark.parametrize("body,reason", [
    ("\x00 not json {", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"delivery_id": "d1", "event_id": ""}', "lacks event_id, subscriber_id"),
])
def test_a_job_that_can_never_run_is_poison_with_its_reason(body: str, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        parse_job(body, DELIVERY_JOB_FIELDS)


def test_a_whole_job_parses() -> None:
    job = parse_job('{"delivery_id": "d1", "event_id": "e1", "subscriber_id": "s1", "extra": 1}', DELIVERY_JOB_FIELDS)
    assert job["extra"] == 1


def test_a_batch_starting_at_once_loads_a_shared_value_once() -> None:
    # GIVEN a batch whose 32 worker threads all need the same event at once
    memo, loads, gate = BatchMemo(), [], threading.Barrier(32)

    def load() -> str:
        loads.append(1)
        time.sleep(0.05)  # a DynamoDB read
        return "snapshot"

    def job(_: int) -> str:
        gate.wait()
        return memo.get("upd:i1:1", load)

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(job, range(32)))
    # THEN it was read once and every job got it
    assert results == ["snapshot"] * 32 and len(loads) == 1


def test_a_failed_shared_load_is_retried_by_the_next_job() -> None:
    memo, attempts = BatchMemo(), []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise TimeoutError("read timed out")
        return "snapshot"

    with pytest.raises(TimeoutError):
        memo.get("e", flaky)
    assert memo.get("e", flaky) == "snapshot" and memo.get("e", flaky) == "snapshot" and len(attempts) == 2


def test_retry_delays_double_with_jitter_and_stay_capped() -> None:
    rng = random.Random(7)
    delays = [backoff(2, n, rng) for n in range(1, 14)]
    assert 1 <= delays[0] <= 3 and all(d <= MAX_BACKOFF * 1.2 for d in delays) and delays[7] >= 200
