"""Webhooks end to end: the local stack, real HTTP receivers on loopback,
signatures verified with the `standardwebhooks` package."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from standardwebhooks.webhooks import Webhook

from status_fanout.api.auth import hash_token
from status_fanout_local.replay import http_sender, read_plans, replay
from status_fanout_local.stack import LocalStack
from tests.conftest import DATA, ROOT, SEED, STAFF_TOKEN, Api, http
from tests.support.receivers import always, fail_first, hang, receivers

pytestmark = pytest.mark.e2e
SAMPLES = DATA / "statuspage-samples"
# Fast retries so the whole schedule runs in seconds: 3 retries, 1 s apart.
FAST = {"WEBHOOK_RETRY_SCHEDULE": "1,1,1", "WEBHOOK_TIMEOUT_SECONDS": "1", "FANOUT_SHARDS": "4"}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)}, env=FAST) as running:
        yield running


def register(api: Api, url: str, **fields: Any) -> dict[str, Any]:
    reply = api("POST", "/v1/webhooks", {"url": url, **fields})
    assert reply.status == 201, reply.raw
    assert reply.json["secret"].startswith("whsec_")
    return dict(reply.json)


def verified(secret: str, received: Any) -> dict[str, Any]:
    """What any Standard Webhooks consumer does: verify, then parse."""
    headers = {k.lower(): v for k, v in received.headers.items()}
    return dict(Webhook(secret).verify(received.body, headers))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_seed_posted_live_reaches_standard_and_statuspage_endpoints_once_each(stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        # GIVEN a Standard Webhooks endpoint and a Statuspage-format one
        standard = register(api, f"{rx.url}/standard")
        statuspage = register(api, f"{rx.url}/statuspage", format="statuspage")
        # WHEN the seed incident is posted live, update by update
        plans = read_plans(SEED, live=True)
        [incident] = replay(http_sender(stack.api_url, STAFF_TOKEN), plans, key_prefix="live-seed")
        # THEN each endpoint gets one delivery per update plus the postmortem
        expected = len(plans[0].updates) + 1
        rx.wait_for(lambda: len(rx.at("/standard")) >= expected and len(rx.at("/statuspage")) >= expected)
        stack.wait_idle(timeout=30)
        time.sleep(1)
        assert len(rx.at("/standard")) == expected and len(rx.at("/statuspage")) == expected

        payloads = [verified(standard["secret"], r) for r in rx.at("/standard")]
        assert [p["type"] for p in sorted(payloads, key=lambda p: p["data"]["sequence"])] == (
            ["incident.created"] + ["incident.updated"] * (expected - 2) + ["incident.postmortem"])
        assert {p["data"]["incident"]["id"] for p in payloads} == {incident["id"]}
        sequences = sorted(p["data"]["sequence"] for p in payloads)
        assert sequences == sorted(set(sequences))
        seed_bodies = [u["body"] for u in json.loads(SEED.read_text())["incident"]["updates"]]
        updates = [p["data"]["update"] for p in sorted(payloads, key=lambda p: p["data"]["sequence"])]
        assert [u["body"] for u in updates[:-1]] == seed_bodies
        assert [u["label"] for u in updates] == [
            "Investigating", "Update", "Identified", "Update", "Monitoring", "Resolved", "Postmortem"]

        # AND every delivery verifies with its endpoint's secret, with a unique webhook-id
        ids = [r.headers["webhook-id"] for r in rx.at("/standard") + rx.at("/statuspage")]
        assert len(ids) == len(set(ids)) == 2 * expected
        bodies = [verified(statuspage["secret"], r) for r in rx.at("/statuspage")]
        with pytest.raises(Exception):  # noqa: B017 - any verification error
            verified(standard["secret"], rx.at("/statuspage")[0])

        # AND the Statuspage body reads as an existing Statuspage consumer reads it
        original = json.loads((SAMPLES / "zulip_statuspage_incident_update_resolved.json").read_text())
        resolved = next(b for b in bodies if b["incident"]["incident_updates"][0]["status"] == "resolved"
                        and not b["incident"]["postmortem_body"])
        assert resolved["incident"]["name"] == "Mail platform outage"
        assert resolved["incident"]["status"] == "resolved"
        assert resolved["incident"]["incident_updates"][0]["body"] == "This incident has been resolved."
        assert resolved["page"]["status_description"] == "All Systems Operational"
        assert set(original) <= set(resolved)
        assert set(original["meta"]) <= set(resolved["meta"])
        assert set(original["page"]) <= set(resolved["page"])
        assert set(original["incident"]) <= set(resolved["incident"])
        assert set(original["incident"]["incident_updates"][0]) <= set(resolved["incident"]["incident_updates"][0])
        assert set(original["incident"]["components"][0]) <= set(resolved["incident"]["components"][0])
        # AND the postmortem's body says when its text last changed: at its publication
        postmortem = next(b for b in bodies if b["incident"]["postmortem_body"])
        assert postmortem["incident"]["postmortem_published_at"]
        assert postmortem["incident"]["postmortem_body_last_updated_at"] == (
            postmortem["incident"]["postmortem_published_at"])
        assert resolved["incident"]["postmortem_body_last_updated_at"] is None

        # AND the deliveries log shows them
        log = api("GET", f"/v1/webhooks/{standard['id']}/deliveries?limit=100").json["deliveries"]
        assert len(log) == expected and {d["status"] for d in log} == {"delivered"}
        assert all(d["attempts"][0]["status_code"] == 200 for d in log)
        for hook in (standard, statuspage):
            assert api("DELETE", f"/v1/webhooks/{hook['id']}").status == 204
        assert api("GET", f"/v1/webhooks/{standard['id']}").status == 404


def test_component_change_in_statuspage_shape_and_component_filter(stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        # GIVEN an endpoint filtered to smtp-email and one for everything, Statuspage-shaped
        api("PUT", "/v1/components/smtp-email", {"name": "SMTP Email", "group": "Email", "position": 1})
        api("PUT", "/v1/components/pop3-imap-email", {"name": "POP3/IMAP Email", "group": "Email", "position": 4})
        smtp_only = register(api, f"{rx.url}/smtp", components=["smtp-email"])
        everything = register(api, f"{rx.url}/all", format="statuspage")
        # WHEN POP3 changes status, then SMTP does
        assert api("PATCH", "/v1/components/pop3-imap-email", {"status": "partial_outage"}).status == 200
        assert api("PATCH", "/v1/components/smtp-email", {"status": "under_maintenance"}).status == 200
        rx.wait_for(lambda: len(rx.at("/all")) >= 2 and len(rx.at("/smtp")) >= 1)
        stack.wait_idle(timeout=30)
        time.sleep(1)
        # THEN the filtered endpoint got only what touches smtp-email
        smtp = [verified(smtp_only["secret"], r) for r in rx.at("/smtp")]
        assert [p["data"]["component"]["id"] for p in smtp] == ["smtp-email"]
        # AND the Statuspage consumer reads component and component_update as it always did
        original = json.loads((SAMPLES / "zulip_statuspage_component_status_update.json").read_text())
        bodies = [verified(everything["secret"], r) for r in rx.at("/all")]
        change = next(b for b in bodies if b["component"]["id"] == "smtp-email")
        assert change["component"]["name"] == "SMTP Email"
        assert change["component_update"]["old_status"] == "operational"
        assert change["component_update"]["new_status"] == "under_maintenance"
        assert set(original) <= set(change)
        assert set(original["component"]) <= set(change["component"])
        assert set(original["component_update"]) <= set(change["component_update"])
        api("PATCH", "/v1/components/smtp-email", {"status": "operational"})
        api("PATCH", "/v1/components/pop3-imap-email", {"status": "operational"})
        stack.wait_idle(timeout=30)
        for hook in (smtp_only, everything):
            api("DELETE", f"/v1/webhooks/{hook['id']}")


def test_faulty_endpoints_are_retried_dead_lettered_or_disabled_and_the_healthy_one_is_on_time(
        stack: LocalStack, api: Api) -> None:
    behaviours = {
        "/flaky": fail_first(1, 503),
        "/later": fail_first(1, 429, {"Retry-After": "3"}),
        "/slow": hang(3),  # longer than the 1 s attempt timeout, every time
        "/gone": always(410),
        "/moved": always(302, {"Location": "/healthy-redirect-target"}),
    }
    with receivers(behaviours) as rx:
        hooks = {name: register(api, f"{rx.url}/{name}") for name in ("healthy", "flaky", "later", "slow", "gone",
                                                                         "moved")}
        hooks["refused"] = register(api, f"http://127.0.0.1:{closed_port()}/refused")
        # WHEN one live update is posted
        started = time.monotonic()
        created = api("POST", "/v1/incidents", {"name": "Faults", "status": "investigating", "body": "testing"})
        assert created.status == 201
        # THEN the healthy endpoint has it at once, exactly once
        rx.wait_for(lambda: rx.delivered("/healthy"), timeout=15)
        healthy_at = rx.delivered("/healthy")[0].at
        assert healthy_at - started < 15
        # AND the failing ones recover on schedule or end dead-lettered; 410 disables
        rx.wait_for(lambda: rx.delivered("/flaky") and rx.delivered("/later"), timeout=30)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            states = {n: _log(api, h["id"]) for n, h in hooks.items()}
            if all(states[n] and states[n][0]["status"] == "dead" for n in ("slow", "refused", "moved")):
                break
            time.sleep(0.5)
        stack.wait_idle(timeout=30)
        assert [r.json["type"] for r in rx.at("/healthy")] == ["incident.created"]
        flaky = rx.at("/flaky")
        assert [r.status for r in flaky] == [503, 200]
        # The failing endpoints never held the healthy one up: it was served
        # before the one that hangs was even tried a second time.
        assert healthy_at < rx.at("/slow")[1].at
        assert flaky[0].headers["webhook-id"] == flaky[1].headers["webhook-id"]  # stable across retries
        later = rx.at("/later")
        assert [r.status for r in later] == [429, 200]
        assert later[1].at - later[0].at >= 2.9  # Retry-After: 3 honoured over the 1 s schedule
        assert len(rx.at("/slow")) == 4  # the first attempt and three retries
        assert len(rx.at("/moved")) == 4 and not rx.at("/healthy-redirect-target")  # never followed
        for name in ("slow", "refused", "moved"):
            [entry] = states[name]
            assert entry["status"] == "dead" and len(entry["attempts"]) == 4, (name, entry)
        assert states["refused"][0]["attempts"][0]["status_code"] is None
        assert api("GET", f"/v1/webhooks/{hooks['gone']['id']}").json["status"] == "disabled"
        assert len(rx.at("/gone")) == 1
        # AND the dead ones wait in the dead-letter queue
        dlq = boto3.client("sqs").get_queue_attributes(
            QueueUrl=stack.queue_url("WebhookDeadLetterQueue"), AttributeNames=["ApproximateNumberOfMessages"])
        assert int(dlq["Attributes"]["ApproximateNumberOfMessages"]) >= 3

        # WHEN the slow endpoint recovers and its failures are replayed
        rx.behaviours["/slow"] = lambda _: (200, {}, b"ok")
        replayed = api("POST", f"/v1/webhooks/{hooks['slow']['id']}/replay", {"since": "2000-01-01T00:00:00Z"})
        assert replayed.status == 202 and replayed.json["replayed"] == 1
        # THEN it gets the delivery, with the same webhook-id
        rx.wait_for(lambda: rx.delivered("/slow"), timeout=15)
        assert rx.delivered("/slow")[0].headers["webhook-id"] == rx.at("/slow")[0].headers["webhook-id"]
        for hook in hooks.values():
            api("DELETE", f"/v1/webhooks/{hook['id']}")


def _log(api: Api, webhook_id: str) -> list[dict[str, Any]]:
    return list(api("GET", f"/v1/webhooks/{webhook_id}/deliveries").json["deliveries"])


def test_rotation_signs_with_both_secrets_and_test_ping(stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        hook = register(api, f"{rx.url}/rotating")
        rotated = api("POST", f"/v1/webhooks/{hook['id']}/rotate-secret")
        assert rotated.status == 201 and rotated.json["secret"] != hook["secret"]
        assert "secret" not in api("GET", f"/v1/webhooks/{hook['id']}").json
        assert api("POST", f"/v1/webhooks/{hook['id']}/test").status == 202
        rx.wait_for(lambda: rx.at("/rotating"))
        ping = rx.at("/rotating")[0]
        assert len(ping.headers["webhook-signature"].split(" ")) == 2
        # Both the old and the new secret verify it during the grace period.
        assert verified(hook["secret"], ping)["type"] == "webhook.test"
        assert verified(rotated.json["secret"], ping)["type"] == "webhook.test"
        api("DELETE", f"/v1/webhooks/{hook['id']}")


def test_statuspage_test_ping_is_a_component_update_statuspage_consumers_accept(stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        # GIVEN a Statuspage-format endpoint
        hook = register(api, f"{rx.url}/sp-ping", format="statuspage")
        # WHEN staff send it a test ping
        assert api("POST", f"/v1/webhooks/{hook['id']}/test").status == 202
        rx.wait_for(lambda: rx.at("/sp-ping"))
        ping = verified(hook["secret"], rx.at("/sp-ping")[0])
        # THEN it has the shape of a real Statuspage component update, every key of one
        # (a consumer dispatches on "incident" or "component_update" and drops anything else)
        original = json.loads((SAMPLES / "zulip_statuspage_component_status_update.json").read_text())
        assert "incident" not in ping
        assert set(original) <= set(ping)
        assert set(original["meta"]) <= set(ping["meta"])
        assert set(original["page"]) <= set(ping["page"])
        assert set(original["component"]) <= set(ping["component"])
        assert set(original["component_update"]) <= set(ping["component_update"])
        # AND it says it is a test, and changes nothing
        assert ping["meta"]["test"] is True
        assert "test" in ping["component"]["name"].lower()
        assert ping["component_update"]["component_id"] == ping["component"]["id"]
        assert ping["component_update"]["old_status"] == ping["component_update"]["new_status"] == "operational"
        assert ping["page"]["status_description"]
        api("DELETE", f"/v1/webhooks/{hook['id']}")


def test_statuspage_meta_links_lead_to_our_webhook_documentation(stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        # GIVEN a Statuspage-format endpoint that has received an event
        hook = register(api, f"{rx.url}/sp-meta", format="statuspage")
        assert api("POST", f"/v1/webhooks/{hook['id']}/test").status == 202
        rx.wait_for(lambda: rx.at("/sp-meta"))
        meta = verified(hook["secret"], rx.at("/sp-meta")[0])["meta"]
        assert meta["documentation"].startswith(stack.api_url), meta
        assert meta["unsubscribe"].startswith(stack.api_url), meta
        # WHEN its consumer follows meta.documentation
        docs = http(meta["documentation"])
        # THEN it is a page of ours that documents what the deliveries hold
        assert docs.status == 200 and docs.headers["Content-Type"].startswith("text/html")
        page = docs.raw.decode()
        for term in ("webhook-signature", "webhook-id", "Standard Webhooks", "component_update",
                     "incident_updates", "incident.updated", "postmortem_body_last_updated_at"):
            assert term in page, term
        # AND meta.unsubscribe leads to how this endpoint is removed, naming it
        url, _, fragment = meta["unsubscribe"].partition("#")
        unsubscribe = http(url)
        assert unsubscribe.status == 200 and unsubscribe.headers["Content-Type"].startswith("text/html")
        text = unsubscribe.raw.decode()
        section = text[text.index(f'id="{fragment}"'):]
        assert hook["id"] in section and "410" in section and f"DELETE /v1/webhooks/{hook['id']}" in section
        api("DELETE", f"/v1/webhooks/{hook['id']}")


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/",
    "http://[::ffff:169.254.169.254]/",
    "http://0xA9FEA9FE/",
    "http://2852039166/",
    "http://10.0.0.5/",
    "http://metadata.google.internal/",
    "http://[fe80::1]/",
    "http://100.64.0.1/",
    "http://user:pass@127.0.0.1/",
    "ftp://127.0.0.1/",
])
def test_ssrf_targets_are_refused_with_422(api: Api, url: str) -> None:
    reply = api("POST", "/v1/webhooks", {"url": url})
    assert reply.status == 422, reply.raw
    assert {d["field"] for d in reply.json["error"]["details"]} == {"url"}


def test_webhook_management_errors(api: Api) -> None:
    assert api("GET", "/v1/webhooks/nosuchhook1").status == 404
    assert api("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/", "events": ["nope"]}).status == 422
    reply = api("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/", "components": ["no-such-component"]})
    assert reply.status == 422 and reply.json["error"]["details"][0]["field"] == "components.no-such-component"
    assert api("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/"}, auth=False).status == 401


def read(path: Path) -> Any:
    return json.loads(path.read_text())
