"""Faults at each seam of the running system, one test per seam: the emulator
refusing every call, a handler dying after its first side effect, poison
messages, a receiver that hangs. Each time the system recovers by itself,
loses nothing and sends nothing twice (receivers dedupe by `webhook-id`, as
Standard Webhooks asks; mailboxes are counted raw)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from status_fanout_local.stack import LocalStack
from tests.conftest import Api, http
from tests.support.inbox import Outbox, confirmed, stack_with_outbox, wait_for
from tests.support.receivers import Receivers, hang, receivers

pytestmark = pytest.mark.e2e
# One shard, so a planning job holds more than one SendMessageBatch; fast retries.
ENV = {"FANOUT_SHARDS": "1", "WEBHOOK_RETRY_SCHEDULE": "1,1,1", "WEBHOOK_TIMEOUT_SECONDS": "1",
       "EMAIL_RETRY_BASE_SECONDS": "1", "EMAIL_MAX_SEND_RATE": "100"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with stack_with_outbox(tmp_path_factory.mktemp("outbox"), ENV) as running:
        yield running


@pytest.fixture(scope="module")
def outbox(stack: LocalStack) -> Outbox:
    return Outbox(stack.outbox_dir)


@pytest.fixture
def rx() -> Iterator[Receivers]:
    with receivers() as running:
        yield running


def register(api: Api, url: str) -> str:
    reply = api("POST", "/v1/webhooks", {"url": url})
    assert reply.status == 201, reply.raw
    return str(reply.json["id"])


def open_incident(api: Api, name: str) -> dict[str, Any]:
    reply = api("POST", "/v1/incidents", {"name": name, "status": "investigating", "body": f"{name}: investigating"})
    assert reply.status == 201, reply.raw
    return dict(reply.json)


def unique_deliveries(rx: Receivers, path: str) -> set[str]:
    """What a receiver that dedupes by webhook-id has processed."""
    return {r.headers["webhook-id"] for r in rx.delivered(path)}


def settle(stack: LocalStack) -> None:
    stack.wait_idle(timeout=120)
    time.sleep(1)


def depth(queue_url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def cleanup(api: Api, *webhook_ids: str) -> None:
    for webhook_id in webhook_ids:
        api("DELETE", f"/v1/webhooks/{webhook_id}")


@contextmanager
def emulator_refusing_calls(services: tuple[str, ...]) -> Iterator[Counter[str]]:
    """Every call to these moto services answers 503 ServiceUnavailable while
    the block runs, as an AWS service in a bad minute does. The local stream
    pollers read the stream from moto's model in process (emulator.LocalStreams),
    not over HTTP: their reads are refused too, with the error boto3 raises."""
    from botocore.exceptions import ClientError
    from moto.core.responses import BaseResponse

    from status_fanout_local.emulator import LocalStreams

    original = BaseResponse.call_action
    originals = {name: getattr(LocalStreams, name) for name in ("describe_stream", "get_records")}
    refused: Counter[str] = Counter()

    def call_action(self: BaseResponse) -> Any:
        service = type(self).__module__.split(".")[1]
        if service in services:
            refused[service] += 1
            body = json.dumps({"__type": "ServiceUnavailable", "message": "chaos: service unavailable"})
            return 503, {"x-amzn-ErrorType": "ServiceUnavailable", "Content-Type": "application/x-amz-json-1.0"}, body
        return original(self)

    def refusing(operation: str) -> Any:
        def refuse(self: LocalStreams, **_: Any) -> Any:
            refused["dynamodbstreams"] += 1
            error = {"Error": {"Code": "ServiceUnavailable", "Message": "chaos: service unavailable"}}
            raise ClientError(error, operation)
        return refuse

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    if "dynamodbstreams" in services:
        LocalStreams.describe_stream = refusing("DescribeStream")
        LocalStreams.get_records = refusing("GetRecords")
    try:
        yield refused
    finally:
        BaseResponse.call_action = original  # type: ignore[method-assign]
        for name, method in originals.items():
            setattr(LocalStreams, name, method)


def test_emulator_refusing_every_call_for_seconds(stack: LocalStack, api: Api, outbox: Outbox,
                                                  rx: Receivers) -> None:
    # GIVEN a webhook endpoint and a confirmed email subscriber
    hook = register(api, f"{rx.url}/outage")
    who = f"outage-{uuid.uuid4().hex[:8]}@example.com"
    confirmed(stack, api, outbox, who)
    settle(stack)
    mails = len(outbox.to(who))
    # WHEN an update is accepted and then DynamoDB, its stream, SQS and SES
    # refuse every call for five seconds
    incident = open_incident(api, "Emulator outage")
    with emulator_refusing_calls(("dynamodb", "dynamodbstreams", "sqs", "sesv2")) as refused:
        time.sleep(5)
    # THEN, once they answer again, the endpoint and the inbox each get the update once
    rx.wait_for(lambda: unique_deliveries(rx, "/outage"), timeout=90)
    wait_for(lambda: len(outbox.to(who)) > mails, timeout=90)
    settle(stack)
    assert sum(refused.values()) > 0, "the fault never hit anything"
    assert len(unique_deliveries(rx, "/outage")) == 1
    assert [r.json["data"]["incident"]["id"] for r in rx.delivered("/outage")][:1] == [incident["id"]]
    assert len(outbox.to(who)) == mails + 1 and "Emulator outage" in str(outbox.to(who)[-1]["Subject"])
    # AND the public JSON holds it
    public = http(f"{stack.api_url}/api/v2/incidents/{incident['id']}.json")
    assert public.status == 200 and public.json["incident"]["name"] == "Emulator outage"
    cleanup(api, hook)


def test_planner_dying_after_its_first_batch(stack: LocalStack, api: Api, rx: Receivers) -> None:
    from status_fanout.delivery.planner import Planner

    # GIVEN twelve endpoints: one planning job, two SendMessageBatch calls
    hooks = [register(api, f"{rx.url}/crash/{n}") for n in range(12)]
    original = Planner.send
    crashed = threading.Event()

    def send(self: Planner, queue_url: str, bodies: list[dict[str, Any]], delay: int = 0) -> int:
        sent = original(self, queue_url, bodies, delay)
        if "delivery_id" in bodies[0] and not crashed.is_set():
            crashed.set()
            raise RuntimeError("chaos: the planner died after its first batch")
        return sent

    Planner.send = send  # type: ignore[method-assign]
    try:
        # WHEN an update is posted and the planner raises right after enqueueing ten deliveries
        incident = open_incident(api, "Planner crash")
        wait_for(crashed.is_set, timeout=60)
    finally:
        Planner.send = original  # type: ignore[method-assign]
    # THEN the planning job is retried by itself and all twelve get it exactly once,
    # although the first ten delivery jobs were enqueued twice
    rx.wait_for(lambda: all(unique_deliveries(rx, f"/crash/{n}") for n in range(12)), timeout=90)
    settle(stack)
    assert [len(rx.delivered(f"/crash/{n}")) for n in range(12)] == [1] * 12
    assert {r.json["data"]["incident"]["id"] for r in rx.received} == {incident["id"]}
    cleanup(api, *hooks)


def test_poison_messages_end_in_their_dead_letter_queues(stack: LocalStack, api: Api, rx: Receivers) -> None:
    sqs = boto3.client("sqs")
    queues = {"PlanQueue": "PlanDeadLetterQueue", "WebhookQueue": "WebhookDeadLetterQueue",
              "EmailQueue": "EmailDeadLetterQueue"}
    before = {dlq: depth(stack.queue_url(dlq)) for dlq in queues.values()}
    hook = register(api, f"{rx.url}/beside-poison")
    # WHEN each queue gets a message that is not JSON and one that lacks its fields
    for queue in queues:
        sqs.send_message(QueueUrl=stack.queue_url(queue), MessageBody="\x00 this is not a job {")
        sqs.send_message(QueueUrl=stack.queue_url(queue), MessageBody=json.dumps({"delivery_id": 42}))
    # AND a real update is posted beside them
    open_incident(api, "Beside the poison")
    # THEN each poison message lands in its queue's dead-letter queue, promptly
    wait_for(lambda: all(depth(stack.queue_url(dlq)) >= before[dlq] + 2 for dlq in queues.values()), timeout=60)
    settle(stack)
    for queue, dlq in queues.items():
        assert depth(stack.queue_url(queue)) == 0, queue
        assert depth(stack.queue_url(dlq)) == before[dlq] + 2, dlq
    # AND the real update was delivered, once
    assert len(unique_deliveries(rx, "/beside-poison")) == 1
    cleanup(api, hook)


def test_receiver_hanging_is_cut_off_and_retried(stack: LocalStack, api: Api) -> None:
    # GIVEN an endpoint that hangs far past the 1 s attempt timeout, once, and a healthy one
    first_hangs = hang(30)
    with receivers({"/hangs": lambda n: first_hangs(n) if n == 1 else (200, {}, b"ok")}) as rx:
        hanging, healthy = register(api, f"{rx.url}/hangs"), register(api, f"{rx.url}/healthy")
        # WHEN an update is posted
        started = time.monotonic()
        open_incident(api, "Hanging receiver")
        # THEN the healthy endpoint is served at once, the hanging one on its retry
        rx.wait_for(lambda: rx.delivered("/healthy"), timeout=30)
        rx.wait_for(lambda: len(rx.at("/hangs")) >= 2, timeout=60)
        settle(stack)
        assert rx.delivered("/healthy")[0].at - started < 20
        assert len(rx.at("/hangs")) == 2 and len(unique_deliveries(rx, "/hangs")) == 1
        # AND the log shows one delivery: a timed-out attempt, then a 200
        [entry] = api("GET", f"/v1/webhooks/{hanging}/deliveries").json["deliveries"]
        assert entry["status"] == "delivered"
        assert [a["status_code"] for a in entry["attempts"]] == [None, 200]
        assert "timeout" in entry["attempts"][0]["error"].lower()
        cleanup(api, hanging, healthy)
