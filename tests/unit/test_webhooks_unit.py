"""Unit tests of single functions: signatures, retry schedule, SSRF guard,
stream record classification. The end-to-end proof is tests/e2e/test_webhooks.py."""

from __future__ import annotations

import json
import random
import time

import pytest
from standardwebhooks.webhooks import Webhook

from status_fanout.delivery.events import delivery_id
from status_fanout.delivery.planner import notifying_events
from status_fanout.delivery.retry import scheduled_delay as next_delay
from status_fanout.dynamo import to_item
from status_fanout.errors import InvalidFieldError
from status_fanout.webhooks import ssrf
from status_fanout.webhooks.models import new_secret, sign
from status_fanout.webhooks.transport import retry_after_seconds


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
