"""The per-channel metrics the senders emit (docs/operations.md lists them):
sent, failed, retried, throttled, suppressed, dead-lettered. The senders run
with stub stores, dialers and AWS clients; the metrics are read from the
shared Powertools Metrics object before it is flushed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from status_fanout.delivery.claims import BUSY, CLAIMED, Claimed, ClaimRequest
from status_fanout.delivery.engine import DeliveryEngine
from status_fanout.delivery.events import EventSnapshot
from status_fanout.delivery.retry import RetryLater
from status_fanout.email.channel import EmailChannel
from status_fanout.email.store import Subscriber
from status_fanout.errors import NotFoundError
from status_fanout.incidents.store import IncidentStore
from status_fanout.observability import metrics
from status_fanout.settings import EmailSettings, PageSettings, Settings, WebhookSettings
from status_fanout.webhooks.channel import WebhookChannel
from status_fanout.webhooks.models import WebhookEndpoint, WebhookSecret, new_secret
from status_fanout.webhooks.store import WebhookStore
from status_fanout.webhooks.transport import Outcome
from tests.support.cfn_template import load_template

NOW = "2024-05-01T12:00:00.000Z"


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def counted() -> dict[str, float]:
    return {name: sum(metric["Value"]) for name, metric in metrics.metric_set.items()}


def record(body: dict[str, Any], receive_count: int = 1, message_id: str = "m1") -> dict[str, Any]:
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": str(receive_count)}}


class StubSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"MessageId": "x"}

    def change_message_visibility(self, **kwargs: Any) -> None:
        self.held.append(kwargs)


# --- webhooks ----------------------------------------------------------------------

class StubClaims:
    """Claims in memory, refusing one delivery twice in a batch as DynamoDB refuses one item twice in a transaction."""

    claim = CLAIMED

    def __init__(self) -> None:
        self.released: list[str] = []

    def claim_all(self, requests: list[ClaimRequest], done: str, now: int, lease_until: int) -> Claimed:
        ids = [request.delivery_id for request in requests]
        if len(set(ids)) != len(ids):
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "one item twice"}},
                              "TransactWriteItems")
        claimed = Claimed()
        for request in requests:
            claimed[request.delivery_id] = self.claim
            claimed.held[request.delivery_id] = {"pk": f"P#{request.delivery_id}", "sk": "S", "status": "sending",
                                                 "lease_until": lease_until}
        return claimed

    def release(self, request: ClaimRequest) -> None:
        self.released.append(request.delivery_id)


class StubTable:
    """The outcomes' BatchWriteItem, in memory."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []

    def put_all(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.written.extend(items)
        return []


class StubEvents:
    def __init__(self, event: EventSnapshot | None) -> None:
        self.event = event

    def get(self, event_id: str) -> EventSnapshot | None:
        return self.event if self.event and event_id == self.event.id else None


class StubWebhooks:
    """The few WebhookStore calls a delivery makes, in memory."""

    def __init__(self, endpoint: WebhookEndpoint, event: EventSnapshot) -> None:
        self.endpoint, self.event = endpoint, event
        self.attempts: list[str] = []

    def get(self, webhook_id: str) -> WebhookEndpoint:
        if webhook_id != self.endpoint.id:
            raise NotFoundError("webhook", webhook_id)
        return self.endpoint

    def get_many(self, webhook_ids: list[str]) -> dict[str, WebhookEndpoint]:
        if "unreachable" in webhook_ids:
            raise RuntimeError("DynamoDB did not answer")
        return {self.endpoint.id: self.endpoint} if self.endpoint.id in webhook_ids else {}

    def delivery_claim(self, job: Any, now: int) -> ClaimRequest:
        return ClaimRequest(job["delivery_id"], {})

    attempt_outcome = staticmethod(WebhookStore.attempt_outcome)

    def mark_failing(self, webhook_id: str, now: str) -> str:
        return now

    def clear_failing(self, webhook_id: str) -> None:
        pass


class StubDialer:
    def __init__(self, status: int | None) -> None:
        self.status = status

    def post(self, target: Any, headers: Any, body: bytes) -> Outcome:
        return Outcome(self.status, 1, error=None if self.status else "connection refused")


def webhook_sender(status: int | None, sqs: StubSqs) -> DeliveryEngine:
    endpoint = WebhookEndpoint(id="hook1", url="https://hooks.example.com/in", created_at=NOW, updated_at=NOW,
                               secrets=[WebhookSecret(secret=new_secret(), created_at=NOW)])
    event = EventSnapshot(id="upd:inc1:1", type="incident.created", occurred_at=NOW, page={"id": "p"}, status={},
                          incident={"id": "inc1"}, update={"id": "u1"}, sequence=1)
    settings = Settings(table_name="t", webhook=WebhookSettings(retry_schedule=(1, 1), dlq_url="https://sqs/dlq"))
    channel = WebhookChannel(StubWebhooks(endpoint, event), settings,
                             dialer=StubDialer(status), resolve=lambda host, port: ["93.184.216.34"])
    return DeliveryEngine(channel, StubTable(), sqs=sqs, events=StubEvents(event),
                          claims=StubClaims())


def delivery(n: int = 1, subscriber_id: str = "hook1") -> dict[str, Any]:
    return {"delivery_id": f"msg_{n}", "event_id": "upd:inc1:1", "event_type": "incident.created",
            "occurred_at": NOW, "subscriber_id": subscriber_id}


def test_a_delivered_webhook_counts_as_sent_even_from_many_threads() -> None:
    # GIVEN an endpoint that answers 204, and a batch of 50 deliveries (run 32 at a time)
    sender = webhook_sender(204, StubSqs())
    batch = [record(delivery(n), message_id=f"m{n}") for n in range(50)]
    # WHEN the batch is handled
    result = sender.handle_batch(batch, "https://sqs/webhooks")
    # THEN every delivery is counted once as sent: no count lost between threads
    assert result == {"batchItemFailures": []}
    assert counted() == {"WebhooksSent": 50}


def test_a_failed_webhook_attempt_counts_as_failed_and_is_retried() -> None:
    # GIVEN an endpoint that answers 500 to the first attempt
    sqs = StubSqs()
    sender = webhook_sender(500, sqs)
    # WHEN the job is handled
    result = sender.handle_batch([record(delivery())], "https://sqs/webhooks")
    # THEN it failed, comes back later, and is not dead-lettered
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert counted() == {"WebhooksFailed": 1}
    assert len(sqs.held) == 1 and not sqs.sent


def test_the_last_failed_webhook_attempt_counts_as_dead_lettered() -> None:
    # GIVEN an endpoint still failing on the attempt after the last scheduled retry
    sqs = StubSqs()
    sender = webhook_sender(None, sqs)
    # WHEN the job arrives for the third time (schedule 1, 1)
    result = sender.handle_batch([record(delivery(), receive_count=3)], "https://sqs/webhooks")
    # THEN the sender parks it in the dead-letter queue and counts it there
    assert result == {"batchItemFailures": []}
    assert [m["QueueUrl"] for m in sqs.sent] == ["https://sqs/dlq"]
    assert counted() == {"WebhooksFailed": 1, "WebhooksDeadLettered": 1}


def test_a_webhook_job_crashing_on_its_last_receive_counts_as_dead_lettered() -> None:
    # GIVEN jobs whose endpoint cannot be read (the store fails), one of them on the queue's last receive
    sender = webhook_sender(204, StubSqs())
    last = record(delivery(1, "unreachable"), receive_count=12, message_id="m1")
    # WHEN they are handled
    result = sender.handle_batch([last, record(delivery(2, "unreachable"), message_id="m2")], "https://sqs/webhooks")
    # THEN both failed, and the one on its 12th receive is counted as going to the dead-letter queue
    assert len(result["batchItemFailures"]) == 2
    assert counted() == {"WebhooksFailed": 2, "WebhooksDeadLettered": 1}


def test_a_batch_holding_one_delivery_twice_sends_it_once() -> None:
    # GIVEN a batch in which SQS hands the sender the same delivery job twice
    sender = webhook_sender(204, StubSqs())
    batch = [record(delivery(1), message_id="m1"), record(delivery(1), message_id="m1-again"),
             record(delivery(2), message_id="m2")]
    # WHEN the batch is handled
    result = sender.handle_batch(batch, "https://sqs/webhooks")
    # THEN each delivery is made once, and the copy is acknowledged with it
    assert result == {"batchItemFailures": []}
    assert counted() == {"WebhooksSent": 2}


@pytest.mark.parametrize(("receive_count", "held_for"), [(1, 1), (3, 4), (10, 30)])
def test_a_delivery_another_attempt_holds_comes_back_soon_and_never_later_than_its_lease(
        receive_count: int, held_for: int) -> None:
    # GIVEN a delivery whose claim another attempt holds (a duplicate job), the lease being 30 s
    sqs = StubSqs()
    sender = webhook_sender(204, sqs)
    sender.claims.claim = BUSY
    sender.rng.uniform = lambda _a, _b: 0.0  # no jitter
    # WHEN it arrives for the nth time
    result = sender.handle_batch([record(delivery(), receive_count=receive_count)], "https://sqs/webhooks",
                                 lease_seconds=30)
    # THEN nothing is sent; it comes back soon at first, then later, never after the lease has run out
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]} and "WebhooksSent" not in counted()
    assert sqs.held[0]["VisibilityTimeout"] == held_for


# --- email -----------------------------------------------------------------------------

class StubSes:
    def __init__(self, error: str | None = None) -> None:
        self.error = error

    def get_account(self) -> dict[str, Any]:
        return {"SendQuota": {"MaxSendRate": 1000.0}}

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "no"}}, "SendEmail")
        return {"MessageId": "ses-1"}


EVENT = EventSnapshot(id="upd:inc1:1", type="incident.created", occurred_at=NOW,
                      page={"id": "p", "name": "Page", "url": "https://status.example.com", "time_zone": "Etc/UTC"},
                      status={"indicator": "major", "description": "Partial System Outage"},
                      incident={"id": "inc1", "name": "Mail platform outage", "status": "investigating",
                                "impact": "major", "shortlink": "https://status.example.com/incidents/inc1",
                                "components": [], "incident_updates": [
                                    {"id": "u1", "status": "investigating", "body": "We are looking into it.",
                                     "display_at": NOW, "created_at": NOW}]},
                      update={"id": "u1", "status": "investigating", "body": "We are looking into it.",
                              "display_at": NOW, "created_at": NOW}, sequence=1)


def email_sender(ses: StubSes, sqs: StubSqs | None = None, subscribers: Any = None) -> DeliveryEngine:
    settings = Settings(table_name="t", page=PageSettings(url="https://status.example.com"),
                        email=EmailSettings(retry_base_seconds=0, sender_concurrency=1, subscription_secret="s" * 32))
    channel = EmailChannel(IncidentStore("t"), settings, ses=ses)
    if subscribers is not None:
        channel.subscriptions.subscribers = subscribers
    return DeliveryEngine(channel, StubTable(), sqs=sqs or StubSqs(), events=StubEvents(EVENT),
                          claims=StubClaims())


def subscriber(state: str) -> Subscriber:
    return Subscriber(id="sub1", email="a@example.com", address_key="k", state=state,
                      created_at=NOW, updated_at=NOW)


def test_an_email_ses_accepts_counts_as_sent() -> None:
    sender = email_sender(StubSes(), subscribers=StubSubscribers(subscriber("confirmed")))
    # WHEN SES accepts a message
    result = sender.handle_batch([record(email_job())], "https://sqs/email")
    # THEN it is counted as sent, and its claim ends sent
    assert result == {"batchItemFailures": []}
    assert counted() == {"EmailsSent": 1}
    assert [(i["pk"]["S"], i["status"]["S"]) for i in sender.db.written] == [("P#d1", "sent")]


def test_a_throttled_email_counts_as_throttled_not_failed() -> None:
    sqs = StubSqs()
    sender = email_sender(StubSes(error="ThrottlingException"), sqs, StubSubscribers(subscriber("confirmed")))
    # WHEN SES throttles the send
    result = sender.handle_batch([record(email_job())], "https://sqs/email")
    # THEN it is counted as throttled (the job comes back, its claim let go), not as failed or sent
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]} and len(sqs.held) == 1
    assert counted() == {"EmailsThrottled": 1}
    with pytest.raises(RetryLater):  # what the channel tells the engine
        sender.channel._send(subscriber("confirmed"), b"raw", 1, kind="update")


class StubSubscribers:
    """The SubscriberStore calls a delivery job makes, in memory."""

    def __init__(self, found: Subscriber | None, fail: bool = False) -> None:
        self.found, self.fail = found, fail
        self.finished: list[tuple[str, str]] = []

    def get_many(self, ids: list[str]) -> dict[str, Subscriber]:
        if self.fail:
            raise RuntimeError("DynamoDB did not answer")
        return {self.found.id: self.found} if self.found and self.found.id in ids else {}

    def mail_claim(self, mail_id: str, now: int) -> ClaimRequest:
        return ClaimRequest(mail_id, {})



def email_job(n: int = 1) -> dict[str, Any]:
    return {"delivery_id": f"d{n}", "event_id": "upd:inc1:1", "subscriber_id": "sub1"}


@pytest.mark.parametrize(("state", "expected"), [("suppressed", {"EmailsSuppressed": 1}), ("unsubscribed", {})])
def test_a_job_for_a_suppressed_subscriber_counts_as_suppressed(monkeypatch: pytest.MonkeyPatch, state: str,
                                                                 expected: dict[str, float]) -> None:
    # GIVEN a delivery job for a subscriber who is no longer confirmed
    ses = StubSes(error="MessageRejected")  # any send would fail the job
    subscribers = StubSubscribers(subscriber(state))
    sender = email_sender(ses, subscribers=subscribers)
    # WHEN the job is handled
    result = sender.handle_batch([record(email_job())], "https://sqs/email")
    # THEN nothing is sent or claimed, and only a suppressed (bounced or complained) address is counted as suppressed
    assert result == {"batchItemFailures": []} and not sender.db.written
    assert counted() == expected


def test_a_failing_email_job_counts_as_failed_and_on_its_last_receive_as_dead_lettered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN jobs whose subscribers cannot be read (the store fails), one of them on the queue's 50th receive
    sqs = StubSqs()
    sender = email_sender(StubSes(), sqs, StubSubscribers(None, fail=True))
    batch = [record(email_job(1), receive_count=1, message_id="m1"),
             record(email_job(2), receive_count=50, message_id="m2")]
    # WHEN the batch is handled
    result = sender.handle_batch(batch, "https://sqs/email")
    # THEN both failed and come back later; the one SQS will now dead-letter is counted as such
    assert len(result["batchItemFailures"]) == 2 and len(sqs.held) == 2
    assert counted() == {"EmailsFailed": 2, "EmailsDeadLettered": 1}


# --- the limits the senders count with ---------------------------------------------------

@pytest.mark.parametrize(("function", "variable", "queue"), [
    ("WebhookSenderFunction", "WEBHOOK_MAX_RECEIVES", "WebhookQueue"),
    ("EmailSenderFunction", "EMAIL_MAX_RECEIVES", "EmailQueue"),
])
def test_each_sender_knows_its_queues_max_receive_count(function: str, variable: str, queue: str) -> None:
    # GIVEN template.yaml
    resources = load_template()["Resources"]
    # WHEN the sender's receive limit is compared with its queue's redrive policy
    told = resources[function]["Properties"]["Environment"]["Variables"][variable]
    redrive = resources[queue]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    # THEN they agree, so "dead-lettered" is counted on the receive SQS really dead-letters after
    assert int(told) == int(redrive)
