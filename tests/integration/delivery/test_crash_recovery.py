"""Crash injection: the planner and the sender are each killed between two
deliveries, then run again. Every receiver gets its delivery exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from status_fanout.api.auth import hash_token
from status_fanout.delivery.engine import DeliveryEngine
from status_fanout.delivery.planner import EventRef, Planner
from status_fanout.delivery.subscriber_index import SubscriberIndex
from status_fanout.incidents.store import IncidentStore
from status_fanout.settings import Settings
from status_fanout.webhooks.channel import WebhookChannel
from status_fanout.webhooks.store import WebhookStore
from status_fanout.webhooks.transport import Dialer
from status_fanout_local.pollers import sqs_record
from status_fanout_local.stack import LocalStack
from tests.conftest import ROOT, STAFF_TOKEN, Api
from tests.support.receivers import receivers

pytestmark = pytest.mark.integration
SUBSCRIBERS = 25  # more than one SendMessageBatch


class Killed(BaseException):
    """The process died: nothing after this line ran, no handler caught it."""


class KilledAfter:
    """Wraps a client and dies on its n-th call of `method`, and stays dead:
    work already queued in other threads of the dead process never runs."""

    def __init__(self, inner: Any, method: str, dies_on_call: int) -> None:
        self.inner, self.method, self.dies_on_call, self.calls = inner, method, dies_on_call, 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name != self.method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls >= self.dies_on_call:
                raise Killed(f"killed on call {self.calls} of {name}")
            return attribute(*args, **kwargs)

        return call


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    env = {"FANOUT_SHARDS": "1", "WEBHOOK_RETRY_SCHEDULE": "1,1,1"}
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)}, env=env) as running:
        yield running


def settings_for(stack: LocalStack, queue_url: str) -> Settings:
    settings = Settings.from_env()
    return settings.model_copy(update={"webhook": settings.webhook.model_copy(update={"queue_url": queue_url}),
                                       "fanout": settings.fanout.model_copy(update={"shards": 1})})


def silent_incident(api: Api, name: str) -> str:
    """An incident whose update notifies nobody, so only the test plans it."""
    reply = api("POST", "/v1/incidents", {"name": name, "status": "investigating", "body": "b", "notify": False})
    assert reply.status == 201
    return str(reply.json["id"])


def shard_job(event: Any) -> dict[str, Any]:
    return {"event_id": event.id, "event_type": event.type, "occurred_at": event.occurred_at,
            "component_ids": [], "channel": "webhook", "shard": 0, "buckets": ["all"]}


def test_planner_killed_between_two_batches_loses_nothing_and_sends_nothing_twice(
        stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        hooks = [api("POST", "/v1/webhooks", {"url": f"{rx.url}/p{n}"}).json["id"] for n in range(SUBSCRIBERS)]
        store = IncidentStore(stack.physical["StatusTable"], boto3.client("dynamodb"))
        settings = settings_for(stack, stack.queue_url("WebhookQueue"))
        index = SubscriberIndex(store)
        incident_id = silent_incident(api, "planner crash")
        event = Planner(store, index, settings).snapshot(EventRef("update", incident_id=incident_id, update_seq=1))
        assert event is not None
        # GIVEN a planner that dies after its first SendMessageBatch of ten
        dying = Planner(store, index, settings, sqs=KilledAfter(boto3.client("sqs"), "send_message_batch", 2))
        with pytest.raises(Killed):
            dying.plan_shard(shard_job(event))
        # WHEN the planning job is run again (SQS gives it back)
        Planner(store, index, settings).plan_shard(shard_job(event))
        # THEN every subscriber gets the delivery exactly once
        try:
            rx.wait_for(lambda: len(rx.received) >= SUBSCRIBERS)
            stack.wait_idle(timeout=30)
            time.sleep(0.5)
            assert sorted(r.path for r in rx.received) == sorted(f"/p{n}" for n in range(SUBSCRIBERS))
        finally:
            for hook in hooks:
                api("DELETE", f"/v1/webhooks/{hook}")


def test_sender_killed_between_two_deliveries_loses_nothing_and_sends_nothing_twice(
        stack: LocalStack, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = boto3.client("sqs")
    # A short visibility timeout stands in for the dead invocation's timeout.
    private = sqs.create_queue(QueueName="crash-test-deliveries", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=private, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with receivers() as rx:
        hooks = [api("POST", "/v1/webhooks", {"url": f"{rx.url}/s{n}"}).json["id"] for n in range(SUBSCRIBERS)]
        store = IncidentStore(stack.physical["StatusTable"], boto3.client("dynamodb"))
        settings = settings_for(stack, private)
        webhooks = WebhookStore(store, 1)
        planner = Planner(store, SubscriberIndex(store), settings)
        incident_id = silent_incident(api, "sender crash")
        event = planner.snapshot(EventRef("update", incident_id=incident_id, update_seq=1))
        assert event is not None
        assert planner.plan_shard(shard_job(event)) == SUBSCRIBERS
        monkeypatch.setattr("status_fanout.webhooks.channel.MAX_IN_FLIGHT", 1)  # one at a time: a clean "between"

        def drain(sender: DeliveryEngine, until: float = 0) -> None:
            while True:
                messages = sqs.receive_message(QueueUrl=private, MaxNumberOfMessages=10,
                                               AttributeNames=["All"]).get("Messages", [])
                if not messages:
                    if time.monotonic() >= until:
                        return
                    time.sleep(0.2)
                    continue
                # An invocation that dies leaves its claims, which expire when its
                # time would have run out (2 s here, as Lambda's context would say).
                result = sender.handle_batch([sqs_record(m, arn) for m in messages], private, lease_seconds=2)
                failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
                done = [m for m in messages if m["MessageId"] not in failed]
                for m in done:
                    sqs.delete_message(QueueUrl=private, ReceiptHandle=m["ReceiptHandle"])

        # GIVEN a sender that dies as it starts its second delivery
        dying = DeliveryEngine(WebhookChannel(webhooks, settings,
                                              dialer=KilledAfter(Dialer(5), "post", 2)), store)  # type: ignore[arg-type]
        with pytest.raises(Killed):
            drain(dying)
        assert len(rx.received) == 1
        # WHEN its messages come back (visibility timeout over) and a new sender runs
        drain(DeliveryEngine(WebhookChannel(webhooks, settings), store), until=time.monotonic() + 10)
        # THEN every subscriber has the delivery exactly once
        try:
            rx.wait_for(lambda: len(rx.received) >= SUBSCRIBERS)
            assert sorted(r.path for r in rx.received) == sorted(f"/s{n}" for n in range(SUBSCRIBERS))
        finally:
            for hook in hooks:
                api("DELETE", f"/v1/webhooks/{hook}")
