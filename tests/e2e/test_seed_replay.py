"""End to end on the local stack: the seed and two real Statuspage incidents
replayed through the HTTP API come back from the public JSON as they were."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from status_fanout.timefmt import format_ts
from status_fanout_local.replay import http_sender, read_plans, replay
from tests.conftest import DATA, SEED, STAFF_TOKEN, Api, http

pytestmark = pytest.mark.e2e
SAMPLES = DATA / "statuspage-samples"


def replay_file(stack: Any, path: Any, prefix: str) -> dict[str, Any]:
    [incident] = replay(http_sender(stack.api_url, STAFF_TOKEN), read_plans(path), key_prefix=prefix)
    stack.wait_idle(timeout=30)
    return incident


def public(stack: Any, key: str) -> Any:
    reply = http(f"{stack.api_url}/{key}")
    assert reply.status == 200, (key, reply.status, reply.raw[:200])
    return reply


def test_seed_incident_round_trips_through_the_public_json(stack: Any) -> None:
    # GIVEN the Bottlenose seed incident, in US Eastern time
    seed = json.loads(SEED.read_text())
    # WHEN it is replayed through the staff API and the publisher has run
    incident = replay_file(stack, SEED, "seed")
    served = public(stack, f"api/v2/incidents/{incident['id']}.json").json
    # THEN the served incident holds the six updates newest first, verbatim, at the given times
    updates = served["incident"]["incident_updates"]
    expected = list(reversed(seed["incident"]["updates"]))
    assert [u["body"] for u in updates] == [u["body"] for u in expected]
    assert [u["status"] for u in updates] == [u["status"] for u in expected]
    assert [u["display_at"] for u in updates] == [
        format_ts(datetime.fromisoformat(u["display_at"])) for u in expected]
    assert updates[-1]["display_at"] == "2018-08-30T22:18:00.000Z"  # 18:18 EDT
    # AND the postmortem with its publication time
    assert served["incident"]["postmortem_body"] == seed["incident"]["postmortem"]["body"]
    assert served["incident"]["postmortem_published_at"] == "2018-08-31T02:44:00.000Z"
    assert served["incident"]["status"] == "resolved"
    assert served["incident"]["resolved_at"] == "2018-08-31T02:29:00.000Z"
    assert served["page"]["name"] == "Bottlenose"
    # AND backfilled history notified nobody
    assert not any(u["deliver_notifications"] for u in updates)


def test_seed_components_appear_grouped_in_components_json(stack: Any) -> None:
    replay_file(stack, SEED, "seed")
    components = public(stack, "api/v2/components.json").json["components"]
    group = next(c for c in components if c["group"])
    assert group["name"] == "Email"
    assert group["components"] == ["smtp-email", "transactional-emails", "email-marketing", "pop3-imap-email"]
    members = [c for c in components if c["group_id"] == group["id"]]
    assert [c["name"] for c in members] == ["SMTP Email", "Transactional Emails", "Email Marketing",
                                            "POP3/IMAP Email"]


@pytest.mark.parametrize("name", [
    "githubstatus_api_v2_incident_lc8s9rtyjmgq_full_lifecycle.json",
    "githubstatus_api_v2_incident_fpk08rxnqjz2.json",
])
def test_real_statuspage_incident_round_trips(stack: Any, name: str) -> None:
    # GIVEN a real githubstatus.com incident in Statuspage v2 JSON
    original = json.loads((SAMPLES / name).read_text())["incident"]
    # WHEN it is replayed through the API
    incident = replay_file(stack, SAMPLES / name, f"real-{name}")
    served = public(stack, f"api/v2/incidents/{incident['id']}.json").json["incident"]
    # THEN the served v2 JSON equals the original where it matters
    for field in ("name", "status", "impact", "resolved_at"):
        assert served[field] == original[field], field

    def essentials(updates: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [(u["status"], u["body"], u["display_at"]) for u in updates]

    assert essentials(served["incident_updates"]) == essentials(original["incident_updates"])
    # AND every key of the original incident object is present in ours
    assert set(original) <= set(served)
    assert set(original["incident_updates"][0]) <= set(served["incident_updates"][0])


def test_public_objects_support_conditional_get(stack: Any) -> None:
    incident = replay_file(stack, SEED, "seed")
    url = f"{stack.api_url}/api/v2/incidents/{incident['id']}.json"
    first = http(url)
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    assert first.headers["Content-Type"].startswith("application/json")
    assert http(url, headers={"If-None-Match": first.headers["ETag"]}).status == 304
    assert http(url, headers={"If-Modified-Since": first.headers["Last-Modified"]}).status == 304


def test_replaying_the_seed_again_changes_nothing(stack: Any, api: Api) -> None:
    # GIVEN the seed already replayed once
    incident = replay_file(stack, SEED, "seed")
    url = f"{stack.api_url}/api/v2/incidents/{incident['id']}.json"
    before = http(url)
    # WHEN the same replay runs again (as after a crash half way)
    again = replay_file(stack, SEED, "seed")
    # THEN the Idempotency-Keys return the same incident and nothing is rewritten
    assert again["id"] == incident["id"]
    assert len(api("GET", f"/v1/incidents/{incident['id']}").json["incident_updates"]) == 6
    after = http(url)
    assert after.raw == before.raw and after.headers["Last-Modified"] == before.headers["Last-Modified"]


def test_summary_and_status_reflect_an_open_incident(stack: Any, api: Api) -> None:
    # GIVEN a live incident taking SMTP down
    api("PUT", "/v1/components/smtp-email", {"name": "SMTP Email", "group": "Email", "position": 1})
    created = api("POST", "/v1/incidents", {"name": "SMTP delays", "status": "investigating",
                                            "body": "Looking into it.", "components": {"smtp-email": "major_outage"}})
    assert created.status == 201
    stack.wait_idle(timeout=30)
    # THEN the public status and summary say so
    status = public(stack, "api/v2/status.json").json["status"]
    assert status == {"indicator": "critical", "description": "Major System Outage"}
    summary = public(stack, "api/v2/summary.json").json
    assert created.json["id"] in [i["id"] for i in summary["incidents"]]
    unresolved = public(stack, "api/v2/incidents/unresolved.json").json["incidents"]
    assert created.json["id"] in [i["id"] for i in unresolved]
    # WHEN it is resolved
    api("POST", f"/v1/incidents/{created.json['id']}/updates",
        {"status": "resolved", "body": "Fixed.", "components": {"smtp-email": "operational"}})
    stack.wait_idle(timeout=30)
    # THEN it leaves the unresolved list and the page is green again
    unresolved = public(stack, "api/v2/incidents/unresolved.json").json["incidents"]
    assert created.json["id"] not in [i["id"] for i in unresolved]
    assert public(stack, "api/v2/status.json").json["status"]["indicator"] == "none"
