"""What a chat app's answer does to a delivery: a 400 dead-letters it at once
(it would be refused again), a 404 or 410 disables the endpoint, a 429 is
retried exactly when the app says (Discord says so in its JSON body). The
engine runs with the stub stores and AWS clients of tests/unit/delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from status_fanout.delivery.engine import FAILED, GONE, REJECTED, DeliveryEngine
from status_fanout.delivery.events import EventSnapshot
from status_fanout.dynamo import from_item
from status_fanout.observability import metrics
from status_fanout.settings import Settings, WebhookSettings
from status_fanout.webhooks.channel import WebhookChannel
from status_fanout.webhooks.models import WebhookEndpoint, WebhookSecret, new_secret
from status_fanout.webhooks.ssrf import Target
from status_fanout.webhooks.transport import Dialer, Outcome, json_retry_after
from tests.support.receivers import receivers
from tests.unit.chat.events import first_update
from tests.unit.delivery.test_engine_metrics import (
    StubClaims,
    StubEvents,
    StubSqs,
    StubTable,
    StubWebhooks,
    counted,
    record,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"
DISCORD_URL = "https://discord.com/api/webhooks/1234567890/tok3n-s3cret-part"
SCHEDULE = (60, 120, 240)
MAX_RECEIVES = 3


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


# --- Discord's JSON retry_after ------------------------------------------------------

def test_discords_json_retry_after_is_read_as_whole_seconds_rounded_up() -> None:
    # GIVEN Discord's rate-limit answer: fractional seconds in its JSON body
    assert json_retry_after('{"message": "You are being rate limited.", "retry_after": 1.2, "global": false}') == 2
    assert json_retry_after('{"retry_after": 7}') == 7
    assert json_retry_after('{"retry_after": 0}') == 0


@pytest.mark.parametrize("body", ["", "rate limited", "<html>429</html>", "[1.5]", "null", "1.5",
                                  '{"retry_after": -1}', '{"retry_after": true}', '{"retry_after": "5"}',
                                  '{"retry_after": null}', '{"retry_after": NaN}', '{"retry_after": Infinity}',
                                  '{"retry_after": 1e9}', '{"retry_after": [1]}', '{"global": true}'])
def test_anything_else_in_the_body_says_nothing_about_when(body: str) -> None:
    assert json_retry_after(body) is None


def test_a_429_over_http_is_retried_when_discords_body_says() -> None:
    # GIVEN a Discord-like receiver that throttles with a JSON body and no Retry-After header
    throttled = json.dumps({"message": "You are being rate limited.", "retry_after": 6.5, "global": False}).encode()
    with receivers({"/api/webhooks/1/tok": lambda _: (429, {"Content-Type": "application/json"}, throttled),
                    "/header": lambda _: (429, {"Retry-After": "30"}, throttled)}) as rx:
        port = int(rx.url.rsplit(":", 1)[1])
        dialer = Dialer(5.0)
        # WHEN the delivery is posted
        outcome = dialer.post(Target("http", "127.0.0.1", port, "/api/webhooks/1/tok", "127.0.0.1"), {}, b"{}")
        # THEN the attempt says 429 and to come back in 7 s
        assert (outcome.status, outcome.retry_after) == (429, 7)
        # AND a Retry-After header, where there is one, is what counts
        assert dialer.post(Target("http", "127.0.0.1", port, "/header", "127.0.0.1"), {}, b"{}").retry_after == 30


# --- what an answer means ------------------------------------------------------------

URLS = {"slack": SLACK_URL, "discord": DISCORD_URL, "standard": "https://hooks.example.com/in"}


def endpoint(body_format: str = "slack") -> WebhookEndpoint:
    secrets = [] if body_format in ("slack", "discord") else [
        WebhookSecret(secret=new_secret(), created_at="2026-01-01T00:00:00.000Z")]
    return WebhookEndpoint(id="hook1", url=URLS[body_format], format=body_format, secrets=secrets,
                           created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z")


@pytest.mark.parametrize(("status", "chat", "partner"), [
    (400, REJECTED, FAILED),  # a chat app refuses that message for good; a partner's 400 may be a bad deploy
    (404, GONE, FAILED),      # a deleted chat webhook; a partner's 404 may be a deploy
    (410, GONE, GONE),
    (429, FAILED, FAILED),
    (500, FAILED, FAILED),
    (None, FAILED, FAILED),   # no answer at all
])
def test_what_an_answer_means_for_a_chat_endpoint_and_for_a_partner(status: int | None, chat: str,
                                                                     partner: str) -> None:
    assert WebhookChannel._meaning(endpoint("discord"), status) == chat
    assert WebhookChannel._meaning(endpoint("standard"), status) == partner


# --- the engine with a chat endpoint --------------------------------------------------

class ScriptedDialer:
    """Answers every POST with one outcome, and keeps what was posted."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.posted: list[tuple[dict[str, str], bytes]] = []

    def post(self, target: Any, headers: dict[str, str], body: bytes) -> Outcome:
        self.posted.append((headers, body))
        return self.outcome


class ChatWebhooks(StubWebhooks):
    """The stub store, counting failure streaks and keeping what is saved (a disabled endpoint)."""

    def __init__(self, endpoint: WebhookEndpoint, event: EventSnapshot) -> None:
        super().__init__(endpoint, event)
        self.failing: list[str] = []
        self.saved: list[WebhookEndpoint] = []

    def mark_failing(self, webhook_id: str, now: str) -> str:
        self.failing.append(webhook_id)
        return now

    def save(self, endpoint: WebhookEndpoint, previous: WebhookEndpoint | None) -> WebhookEndpoint:
        self.saved.append(endpoint)
        return endpoint


class Sender:
    def __init__(self, outcome: Outcome, body_format: str = "slack") -> None:
        self.event = first_update()
        self.sqs = StubSqs()
        self.dialer = ScriptedDialer(outcome)
        self.webhooks = ChatWebhooks(endpoint(body_format), self.event)
        self.staff: list[str] = []
        settings = Settings(table_name="t", webhook=WebhookSettings(
            retry_schedule=SCHEDULE, max_receives=MAX_RECEIVES, dlq_url="https://sqs/dlq"))
        channel = WebhookChannel(self.webhooks, settings, dialer=self.dialer,
                                 resolve=lambda host, port: ["52.89.214.238"], notify_staff=self.staff.append,
                                 clock=lambda: NOW)
        self.engine = DeliveryEngine(channel, StubTable(), sqs=self.sqs, events=StubEvents(self.event),
                                     claims=StubClaims(), clock=lambda: NOW)
        self.engine.rng.uniform = lambda _a, _b: 0.0  # no jitter

    def job(self) -> dict[str, Any]:
        return {"delivery_id": "msg_1", "event_id": self.event.id, "event_type": self.event.type,
                "occurred_at": self.event.occurred_at, "subscriber_id": "hook1"}

    def handle(self, attempt: int = 1) -> dict[str, Any]:
        result: dict[str, Any] = self.engine.handle_batch([record(self.job(), receive_count=attempt)],
                                                          "https://sqs/webhooks")
        return result

    def logged(self) -> list[dict[str, Any]]:
        return [from_item(item) for item in self.engine.db.written]

    def held_for(self) -> list[int]:
        return [int(h["VisibilityTimeout"]) for h in self.sqs.held]


def test_a_chat_message_is_posted_unsigned_in_the_apps_format() -> None:
    sender = Sender(Outcome(200, 5, excerpt="ok"))
    # WHEN a delivery to a Slack endpoint succeeds
    assert sender.handle() == {"batchItemFailures": []}
    # THEN Slack got its Block Kit message with no signature headers (its URL is the credential)
    ((headers, body),) = sender.dialer.posted
    assert headers == {}
    assert json.loads(body)["text"] == "Bottlenose: Mail platform outage — Investigating"
    assert [item["status"] for item in sender.logged()] == ["delivered"]


def test_a_message_the_app_refuses_is_dead_lettered_at_once_and_the_endpoint_stays_active() -> None:
    # GIVEN Slack answers 400 invalid_blocks to the first attempt
    sender = Sender(Outcome(400, 5, excerpt="invalid_blocks"))
    # WHEN the delivery is handled
    result = sender.handle(attempt=1)
    # THEN it is not retried: acknowledged, never held for later
    assert result == {"batchItemFailures": []} and sender.sqs.held == []
    # AND it is recorded dead, with Slack's answer in the log for staff to read
    (logged,) = sender.logged()
    assert logged["status"] == "dead" and logged.get("next_retry_at") is None
    assert logged["attempts"][-1]["status_code"] == 400 and logged["attempts"][-1]["response"] == "invalid_blocks"
    # AND the job is in the dead-letter queue once, where replay and redrive find it
    assert [(m["QueueUrl"], json.loads(m["MessageBody"])) for m in sender.sqs.sent] == [
        ("https://sqs/dlq", sender.job())]
    assert counted() == {"WebhooksFailed": 1, "WebhooksDeadLettered": 1}
    # AND the endpoint itself is neither disabled nor counted as failing: only that message was refused
    assert sender.webhooks.saved == [] and sender.webhooks.failing == [] and sender.staff == []


@pytest.mark.parametrize("status", [404, 410])
def test_a_deleted_chat_webhook_disables_the_endpoint(status: int) -> None:
    sender = Sender(Outcome(status, 5, excerpt="Unknown Webhook"), body_format="discord")
    # WHEN Discord answers that the webhook is gone
    assert sender.handle() == {"batchItemFailures": []}
    # THEN the endpoint is disabled, staff are told, and the delivery is not retried or dead-lettered
    (saved,) = sender.webhooks.saved
    assert saved.status == "disabled" and str(status) in (saved.disabled_reason or "")
    (told,) = sender.staff
    assert "https://discord.com/…part" in told and "tok3n" not in told  # the URL masked: it is the credential
    assert sender.sqs.held == [] and sender.sqs.sent == []
    assert [item["status"] for item in sender.logged()] == ["gone"]


def test_a_throttled_delivery_comes_back_exactly_when_the_app_says() -> None:
    # GIVEN Discord throttles the second attempt: come back in 7 s (the schedule's step would be 120 s)
    sender = Sender(Outcome(429, 5, retry_after=7), body_format="discord")
    # WHEN the delivery is handled
    result = sender.handle(attempt=2)
    # THEN it comes back after 7 s, not the schedule's step
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert sender.held_for() == [7]
    (logged,) = sender.logged()
    assert logged["status"] == "failed" and logged["next_retry_at"] == "2026-11-28T12:00:07.000Z"
    assert sender.sqs.sent == []


def test_a_throttled_delivery_on_the_queues_last_receive_falls_back_to_the_schedule() -> None:
    # GIVEN the app throttles the attempt on the queue's last receive (max_receives = 3)
    sender = Sender(Outcome(429, 5, retry_after=7), body_format="discord")
    # WHEN it is handled
    sender.handle(attempt=MAX_RECEIVES)
    # THEN the schedule's third step (240 s) holds it, as for any failure: no early retry it could not get
    assert sender.held_for() == [SCHEDULE[MAX_RECEIVES - 1]]


def test_a_failure_that_is_not_throttling_keeps_the_schedule_never_sooner_than_retry_after() -> None:
    # GIVEN a 503 with Retry-After: 7 on the second attempt
    sender = Sender(Outcome(503, 5, retry_after=7))
    sender.handle(attempt=2)
    # THEN the schedule's step (120 s) holds, Retry-After being only its floor
    assert sender.held_for() == [SCHEDULE[1]]
