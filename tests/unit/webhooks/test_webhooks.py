"""Unit tests of single functions: signatures, retry schedule, SSRF guard,
stream record classification. The end-to-end proof is tests/e2e/test_webhooks.py."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from status_fanout.delivery.events import EventSnapshot, delivery_id
from status_fanout.delivery.planner import EventRef, Planner, notifying_events
from status_fanout.delivery.retry import scheduled_delay as next_delay
from status_fanout.dynamo import to_item
from status_fanout.errors import InvalidFieldError
from status_fanout.incidents import lifecycle
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.publishing import public_json
from status_fanout.settings import PageSettings, Settings
from status_fanout.webhooks import ssrf
from status_fanout.webhooks.models import new_secret, sign, statuspage_body
from status_fanout.webhooks.transport import retry_after_seconds

SAMPLES = Path(__file__).resolve().parents[3] / "data" / "statuspage-samples"


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    secret, old = new_secret(), new_secret()
    body = json.dumps({"type": "incident.created"}).encode()
    now = int(time.time())
    header = sign([secret, old], "msg_1", now, body)
    assert header.count("v1,") == 2
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": header}
    for key in (secret, old):
        assert Webhook(key).verify(body, headers) == {"type": "incident.created"}
    with pytest.raises(Exception):  # noqa: B017 - a tampered body fails verification
        Webhook(secret).verify(body + b" ", headers)


def test_secrets_are_long_random_and_unique() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(s.startswith("whsec_") and len(s) >= 6 + 32 for s in secrets)


def test_delivery_id_is_deterministic_per_pair() -> None:
    assert delivery_id("upd:a:1", "hook1") == delivery_id("upd:a:1", "hook1")
    assert delivery_id("upd:a:1", "hook1") != delivery_id("upd:a:1", "hook2")
    assert delivery_id("upd:a:1", "hook1") != delivery_id("upd:a:2", "hook1")


def test_retry_schedule_reaches_a_day_with_jitter_and_honours_retry_after() -> None:
    schedule = (5, 300, 1800, 7200, 18000, 36000, 50400)
    rng = random.Random(1)
    delays = [next_delay(schedule, attempt, None, rng) for attempt in range(1, 8)]
    assert all(d is not None for d in delays)
    assert sum(d or 0 for d in delays) >= 24 * 3600
    assert max(d or 0 for d in delays) <= 12 * 3600  # SQS's visibility ceiling
    assert 4 <= (delays[0] or 0) <= 6
    assert next_delay(schedule, 8, None, rng) is None
    assert next_delay(schedule, 1, 120, rng) == 120
    assert retry_after_seconds("30") == 30
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480 - 60) == 60
    assert retry_after_seconds("soon") is None


def fake_resolver(table: dict[str, list[str]]) -> ssrf.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]
    return resolve


@pytest.mark.parametrize("host,addresses", [
    ("internal.example.com", ["10.1.2.3"]),
    ("mixed.example.com", ["93.184.216.34", "192.168.1.1"]),  # one bad answer is enough
    ("v6.example.com", ["fd00::1"]),
    ("mapped.example.com", ["::ffff:127.0.0.1"]),
    ("nat64.example.com", ["64:ff9b::a9fe:a9fe"]),
    ("cgnat.example.com", ["100.64.1.1"]),
    ("multicast.example.com", ["224.0.0.1"]),
])
def test_hostnames_resolving_to_non_public_addresses_are_refused(host: str, addresses: list[str]) -> None:
    with pytest.raises(InvalidFieldError) as err:
        ssrf.check(f"https://{host}/hook", resolve=fake_resolver({host: addresses}))
    assert err.value.field == "url"


def test_plain_http_is_refused_in_aws_mode_and_loopback_only_locally() -> None:
    resolve = fake_resolver({"hooks.example.com": ["93.184.216.34"], "localhost": ["127.0.0.1"]})
    with pytest.raises(InvalidFieldError):
        ssrf.check("http://hooks.example.com/x", resolve=resolve)
    target = ssrf.check("https://hooks.example.com:8443/x?y=1", resolve=resolve)
    assert (target.address, target.port, target.path, target.host) == ("93.184.216.34", 8443, "/x?y=1",
                                                                       "hooks.example.com")
    with pytest.raises(InvalidFieldError):
        ssrf.check("https://localhost/x", resolve=resolve)
    assert ssrf.check("http://localhost/x", allow_http=True, allow_loopback=True, resolve=resolve).address == (
        "127.0.0.1")


def image(**values: object) -> dict[str, object]:
    return to_item(values)


def test_only_notifying_changes_become_events() -> None:
    records = [
        {"dynamodb": {"NewImage": image(type="update", incident_id="i1", seq=1, deliver_notifications=True,
                                        backfilled=False)}},
        {"dynamodb": {"NewImage": image(type="update", incident_id="i1", seq=2, deliver_notifications=False,
                                        backfilled=False)}},  # notify: false
        {"dynamodb": {"NewImage": image(type="update", incident_id="i1", seq=3, deliver_notifications=True,
                                        backfilled=False),
                      "OldImage": image(type="update", incident_id="i1", seq=3)}},  # a correction
        {"dynamodb": {"NewImage": image(type="incident", id="i1", postmortem_published_at="t", postmortem_notify=True),
                      "OldImage": image(type="incident", id="i1")}},
        {"dynamodb": {"NewImage": image(type="incident", id="i1", postmortem_published_at="t", postmortem_notify=True),
                      "OldImage": image(type="incident", id="i1", postmortem_published_at="t")}},  # re-PUT
        {"dynamodb": {"NewImage": image(type="component", id="smtp", status="major_outage", changed_by="patch",
                                        version=3),
                      "OldImage": image(type="component", id="smtp", status="operational")}},
        {"dynamodb": {"NewImage": image(type="component", id="smtp", status="major_outage",
                                        changed_by="incident:i1:u1", version=4),
                      "OldImage": image(type="component", id="smtp", status="operational")}},
        {"dynamodb": {"NewImage": image(type="delivery", id="x")}},
    ]
    assert [e.id for e in notifying_events(records)] == ["upd:i1:1", "pm:i1", "cmp:smtp:3"]


# --- postmortem_body_last_updated_at -------------------------------------------

class _SnapshotStore:
    """What Planner.snapshot reads, in memory."""

    def __init__(self, incident: Incident, updates: list[IncidentUpdate]) -> None:
        self.loaded = (incident, updates)

    def list_components(self) -> list[Component]:
        return []

    def list_unresolved(self) -> list[Incident]:
        return []

    def list_open_maintenances(self) -> list[Incident]:
        return []

    def load_incident(self, incident_id: str) -> tuple[Incident, list[IncidentUpdate]]:
        return self.loaded


class _Events:
    def put(self, event: EventSnapshot, expires_at: int) -> EventSnapshot:
        return event


def _statuspage_incident(ref: EventRef, incident: Incident, updates: list[IncidentUpdate]) -> dict[str, Any]:
    settings = Settings(table_name="t", page=PageSettings(url="https://status.example.com"))
    planner = Planner(_SnapshotStore(incident, updates), None, settings, events=_Events())  # type: ignore[arg-type]
    event = planner.snapshot(ref)
    assert event is not None
    return dict(statuspage_body(event, "hook1", "2026-11-28T13:00:00.000Z", settings.links_base)["incident"])


def test_postmortem_body_last_updated_at_is_when_the_body_last_changed() -> None:
    settings = Settings(table_name="t", page=PageSettings(url="https://status.example.com"))
    t0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    incident, update = lifecycle.open_incident(
        name="Mail", status="resolved", body="fixed", impact=None, requested_components=None, notify=True,
        display_at=None, components={}, now=t0)
    # GIVEN a postmortem published at 11:00
    published = lifecycle.publish_postmortem(incident, body="what happened", notify=True, display_at=None,
                                             now=t0 + timedelta(hours=1))
    v2 = public_json.incident_object(published, [update], {}, settings)
    assert v2["postmortem_published_at"] == "2026-11-28T11:00:00.000Z"
    assert v2["postmortem_body_last_updated_at"] == "2026-11-28T11:00:00.000Z"
    # WHEN staff correct its body at 12:00, then re-PUT the same body at 12:30
    corrected = lifecycle.publish_postmortem(published, body="what really happened", notify=True,
                                             display_at=None, now=t0 + timedelta(hours=2))
    again = lifecycle.publish_postmortem(corrected, body="what really happened", notify=True,
                                         display_at=None, now=t0 + timedelta(hours=2, minutes=30))
    # THEN the v2 JSON says the body last changed at 12:00, first published at 11:00
    v2 = public_json.incident_object(again, [update], {}, settings)
    assert v2["postmortem_published_at"] == "2026-11-28T11:00:00.000Z"
    assert v2["postmortem_body_last_updated_at"] == "2026-11-28T12:00:00.000Z"
    # AND so does the Statuspage webhook body of the postmortem, with every key of a real one
    body = _statuspage_incident(EventRef("postmortem", incident_id=incident.id), again, [update])
    assert body["postmortem_body"] == "what really happened"
    assert body["postmortem_published_at"] == "2026-11-28T11:00:00.000Z"
    assert body["postmortem_body_last_updated_at"] == "2026-11-28T12:00:00.000Z"
    sample = json.loads((SAMPLES / "zulip_statuspage_incident_created.json").read_text())["incident"]
    assert set(sample) <= set(body)
    # AND an update's event from before the postmortem carries no postmortem at all
    before = _statuspage_incident(EventRef("update", incident_id=incident.id, update_seq=1), again, [update])
    assert before["postmortem_body"] is None and before["postmortem_published_at"] is None
    assert before["postmortem_body_last_updated_at"] is None


def test_a_backfilled_postmortem_was_last_updated_when_it_was_published() -> None:
    settings = Settings(table_name="t", page=PageSettings(url="https://status.example.com"))
    shown = datetime(2018, 8, 31, 2, 44, tzinfo=UTC)
    incident, update = lifecycle.open_incident(
        name="Mail", status="resolved", body="fixed", impact=None, requested_components=None, notify=False,
        display_at=shown - timedelta(hours=1), components={}, now=datetime(2026, 11, 28, tzinfo=UTC))
    published = lifecycle.publish_postmortem(incident, body="pm", notify=False, display_at=shown,
                                             now=datetime(2026, 11, 28, 0, 5, tzinfo=UTC))
    v2 = public_json.incident_object(published, [update], {}, settings)
    assert v2["postmortem_published_at"] == v2["postmortem_body_last_updated_at"] == "2018-08-31T02:44:00.000Z"


def test_the_webhook_page_names_only_a_real_looking_endpoint_id() -> None:
    from status_fanout.webhooks import docs as webhook_docs

    settings = Settings(table_name="t", page=PageSettings(name="Bottlenose"))
    assert "<code>abcdefabcdef</code>" in webhook_docs.page(settings, "abcdefabcdef")
    hostile = webhook_docs.page(settings, "<script>alert(1)</script>")
    assert "<script>" not in hostile and "alert(1)" not in hostile
    assert webhook_docs.unsubscribe_url("https://api.example.com/prod", "abcdefabcdef") == (
        "https://api.example.com/prod/docs/webhooks?endpoint=abcdefabcdef#unsubscribe")


def test_webhook_retry_scale_scales_every_step_and_sqs_holds_whole_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "t")
    monkeypatch.setenv("WEBHOOK_RETRY_SCALE", "0.01")
    settings = Settings.from_env()
    assert settings.webhook.retry_delays[:3] == pytest.approx((0.05, 3.0, 18.0))
    rng = random.Random(1)
    # 0.05 s is no whole second: the job is visible again at once
    assert next_delay(settings.webhook.retry_delays, 1, None, rng) == 0
    assert 2 <= (next_delay(settings.webhook.retry_delays, 2, None, rng) or 0) <= 4
    # Retry-After is the receiver's, never scaled
    assert next_delay(settings.webhook.retry_delays, 1, 3, rng) == 3
    assert Settings(table_name="t").webhook.retry_delays == Settings(table_name="t").webhook.retry_schedule
