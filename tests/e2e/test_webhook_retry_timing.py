"""A scaled retry schedule is kept: failed deliveries come back at their
scaled time, bounded by the local stack's queue poller.

Its own stack: WEBHOOK_RETRY_SCALE applies to every function of the process.
The schedule's first step is 30 s here (the template's is 5 s) so that the
unscaled wait (24-36 s with jitter) and the scaled one (0.3 s, which SQS
holds as 0) are far apart, and the bound can be generous on a loaded machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from status_fanout.api.auth import hash_token
from status_fanout_local.pollers import MAX_LOCAL_BATCHING_WINDOW, SQS_WAIT_SECONDS
from status_fanout_local.stack import LocalStack
from tests.conftest import ROOT, STAFF_TOKEN, Api
from tests.support.receivers import fail_first, receivers

pytestmark = pytest.mark.e2e
ENV = {"WEBHOOK_RETRY_SCHEDULE": "30,30,30", "WEBHOOK_RETRY_SCALE": "0.01", "WEBHOOK_TIMEOUT_SECONDS": "2",
       "FANOUT_SHARDS": "4"}
ENDPOINTS = 7
SCALED_FIRST_STEP = 30 * 0.01 * 1.2  # the scaled first wait, jitter included
# What may come on top of the scaled wait: a poller's long poll that began
# before the job was visible again, its batching window, and the retry's own
# work (claim, sign, POST) plus the failed attempt's bookkeeping on a loaded
# two-core machine. Far below the unscaled 24 s.
BOUND = SCALED_FIRST_STEP + SQS_WAIT_SECONDS + MAX_LOCAL_BATCHING_WINDOW + 6.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)}, env=ENV) as running:
        yield running


def test_seven_failed_deliveries_are_each_retried_at_the_scaled_time(stack: LocalStack, api: Api) -> None:
    paths = [f"/down{n}" for n in range(ENDPOINTS)]
    with receivers({path: fail_first(1, 503) for path in paths}) as rx:
        # GIVEN seven endpoints that answer 503 once, then 200
        hooks = []
        for path in paths:
            reply = api("POST", "/v1/webhooks", {"url": rx.url + path})
            assert reply.status == 201, reply.raw
            hooks.append(reply.json)
        # WHEN one live update is posted
        assert api("POST", "/v1/incidents", {"name": "Retries", "status": "investigating",
                                             "body": "testing retries"}).status == 201
        rx.wait_for(lambda: all(rx.at(path) for path in paths), timeout=60)
        last_first = max(rx.at(path)[0].at for path in paths)
        # THEN all fourteen attempts arrive within the bound after the last first attempt
        rx.wait_for(lambda: all(len(rx.at(path)) >= 2 for path in paths), timeout=BOUND)
        for path in paths:
            first, second = rx.at(path)[:2]
            assert (first.status, second.status) == (503, 200), path
            assert second.at - first.at <= BOUND, (path, second.at - first.at)
            assert first.headers["webhook-id"] == second.headers["webhook-id"]
        assert max(rx.at(path)[1].at for path in paths) - last_first <= BOUND
        # AND each delivery's log shows the retry it was promised, and its delivery
        stack.wait_idle(timeout=60)
        for hook in hooks:
            [delivery] = api("GET", f"/v1/webhooks/{hook['id']}/deliveries").json["deliveries"]
            assert delivery["status"] == "delivered"
            assert [a["status_code"] for a in delivery["attempts"]] == [503, 200]
            api("DELETE", f"/v1/webhooks/{hook['id']}")
