"""Incident templates and the audience preview end to end (docs/templates.md):
the local stack, its emulated SES writing .eml files, and loopback webhook and
chat receivers. The preview is checked against what a real update delivers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from status_fanout_local.stack import LocalStack
from tests.conftest import Api
from tests.support.inbox import Outbox, confirmed, stack_with_outbox, subscribe, wait_for
from tests.support.receivers import app_like, receivers

pytestmark = pytest.mark.e2e
ENV = {"FANOUT_SHARDS": "4", "EMAIL_RETRY_BASE_SECONDS": "1", "EMAIL_MAX_SEND_RATE": "100",
       "WEBHOOK_RETRY_SCHEDULE": "30,30,30", "WEBHOOK_RETRY_SCALE": "0.01", "WEBHOOK_TIMEOUT_SECONDS": "2"}
COMPONENTS = {"tpl-api": "API", "tpl-mail": "Mail", "tpl-dns": "DNS"}
TEMPLATE = {"name": "API degraded", "title": "Elevated API error rates",
            "body": "We are seeing elevated error rates on the API and are investigating.",
            "status": "investigating", "impact": "major", "components": {"tpl-api": "partial_outage"}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with stack_with_outbox(tmp_path_factory.mktemp("outbox"), ENV) as running:
        yield running


@pytest.fixture(scope="module")
def outbox(stack: LocalStack) -> Outbox:
    return Outbox(stack.outbox_dir)


@pytest.fixture(scope="module", autouse=True)
def components(api: Api) -> None:
    for position, (cid, name) in enumerate(COMPONENTS.items()):
        assert api("PUT", f"/v1/components/{cid}", {"name": name, "position": position}).status in (200, 201)


def put_template(api: Api, template_id: str, template: dict[str, Any]) -> dict[str, Any]:
    reply = api("PUT", f"/v1/templates/{template_id}", template)
    assert reply.status in (200, 201), reply.raw
    return dict(reply.json)


def invalid_fields(reply: Any) -> set[str]:
    assert reply.status == 422, reply.raw
    return {d["field"] for d in reply.json["error"]["details"]}


# --- templates -------------------------------------------------------------------

def test_an_incident_opened_from_a_template_has_its_fields_but_the_one_overridden(api: Api) -> None:
    # GIVEN a template
    reply = api("PUT", "/v1/templates/api-degraded", TEMPLATE)
    assert reply.status == 201, reply.raw
    assert reply.headers["Location"] == "/v1/templates/api-degraded"
    assert api("GET", "/v1/templates/api-degraded").json == reply.json
    # WHEN staff open an incident from it, with their own title
    opened = api("POST", "/v1/incidents", {"template": "api-degraded", "name": "API errors in eu-west"})
    assert opened.status == 201, opened.raw
    incident = opened.json
    # THEN the incident has the given name and the template's status, impact and components
    assert incident["name"] == "API errors in eu-west"
    assert incident["status"] == "investigating" and incident["impact"] == "major"
    assert [c["id"] for c in incident["components"]] == ["tpl-api"]
    # AND its first update carries the template's body, status and component change
    [first] = incident["incident_updates"]
    assert first["body"] == TEMPLATE["body"] and first["status"] == "investigating"
    assert [(a["code"], a["new_status"]) for a in first["affected_components"]] == [("tpl-api", "partial_outage")]
    assert next(c for c in api("GET", "/v1/components").json["components"]
                if c["id"] == "tpl-api")["status"] == "partial_outage"
    # AND the incident reads back the same
    assert api("GET", f"/v1/incidents/{incident['id']}").json["name"] == "API errors in eu-west"
    resolved = api("POST", f"/v1/incidents/{incident['id']}/updates",
                   {"status": "resolved", "body": "Fixed.", "components": {"tpl-api": "operational"}})
    assert resolved.status == 201


def test_the_request_wins_whole_and_the_merge_is_validated_like_any_request(api: Api) -> None:
    # GIVEN a template with no status
    put_template(api, "mail-delays", {"name": "Mail delays", "title": "Delayed mail", "body": "Mail is delayed.",
                                      "components": {"tpl-mail": "degraded_performance"}})
    # WHEN an incident names it but no status either
    # THEN 422 naming status, as a request without a template would get
    assert invalid_fields(api("POST", "/v1/incidents", {"template": "mail-delays"})) == {"status"}
    # WHEN the request gives its own components
    opened = api("POST", "/v1/incidents", {"template": "mail-delays", "status": "identified",
                                           "components": {"tpl-dns": "major_outage"}})
    # THEN they replace the template's whole, not merged with them
    assert opened.status == 201, opened.raw
    assert [c["id"] for c in opened.json["components"]] == ["tpl-dns"]
    assert opened.json["name"] == "Delayed mail"
    assert api("POST", f"/v1/incidents/{opened.json['id']}/updates",
               {"status": "resolved", "body": "Fixed.", "components": {"tpl-dns": "operational"}}).status == 201
    # AND an override that breaks a rule is refused naming it
    assert invalid_fields(api("POST", "/v1/incidents", {"template": "mail-delays", "status": "identified",
                                                        "name": ""})) == {"name"}
    assert invalid_fields(api("POST", "/v1/incidents", {"template": "mail-delays", "status": "identified",
                                                        "color": "red"})) == {"color"}


def test_a_maintenance_scheduled_from_a_template_takes_its_title_body_and_components(api: Api) -> None:
    # GIVEN a template for DNS work
    put_template(api, "dns-work", {"name": "DNS work", "title": "DNS provider migration", "body": "We move DNS.",
                                   "status": "identified", "components": {"tpl-dns": "under_maintenance"}})
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    # WHEN a maintenance is scheduled from it
    reply = api("POST", "/v1/maintenances", {"template": "dns-work", "scheduled_for": start.isoformat(),
                                             "scheduled_until": (start + timedelta(hours=1)).isoformat(),
                                             "notify": False})
    # THEN it has the template's title, body and components, and a maintenance's status and impact
    assert reply.status == 201, reply.raw
    maintenance = reply.json
    assert maintenance["name"] == "DNS provider migration"
    assert maintenance["status"] == "scheduled" and maintenance["impact"] == "maintenance"
    assert [c["id"] for c in maintenance["components"]] == ["tpl-dns"]
    assert maintenance["incident_updates"][0]["body"] == "We move DNS."
    assert api("POST", f"/v1/maintenances/{maintenance['id']}/cancel", {"notify": False}).status == 200


def test_a_bad_template_is_refused_naming_the_field(api: Api) -> None:
    # WHEN a template breaks the rules an incident's fields have
    # THEN 422 naming each field
    assert invalid_fields(api("PUT", "/v1/templates/bad", {**TEMPLATE, "status": "on-fire"})) == {"status"}
    assert invalid_fields(api("PUT", "/v1/templates/bad", {**TEMPLATE, "impact": "apocalyptic"})) == {"impact"}
    assert invalid_fields(api("PUT", "/v1/templates/bad", {**TEMPLATE, "title": "x" * 256})) == {"title"}
    assert invalid_fields(api("PUT", "/v1/templates/bad", {**TEMPLATE, "body": ""})) == {"body"}
    assert invalid_fields(api("PUT", "/v1/templates/bad", {**TEMPLATE, "components": {"tpl-api": "fine"}})) == {
        "components.tpl-api"}
    assert invalid_fields(api("PUT", "/v1/templates/bad", {**TEMPLATE, "components": {"nope": "major_outage"}})) == {
        "components.nope"}
    assert invalid_fields(api("PUT", "/v1/templates/bad", {k: v for k, v in TEMPLATE.items() if k != "title"})) == {
        "title"}
    assert invalid_fields(api("PUT", "/v1/templates/bad", {**TEMPLATE, "notify": False})) == {"notify"}
    # AND a template id that is no slug
    assert invalid_fields(api("PUT", "/v1/templates/Bad_Id", TEMPLATE)) == {"template_id"}
    # AND nothing was stored
    assert api("GET", "/v1/templates/bad").status == 404


def test_an_unknown_template_is_refused_naming_template(api: Api) -> None:
    # WHEN an incident or a maintenance names a template that does not exist, or no template id at all
    # THEN 422 naming template, and nothing opens
    before = api("GET", "/v1/incidents?limit=100").json["incidents"]
    assert invalid_fields(api("POST", "/v1/incidents", {"template": "no-such-template", "name": "x",
                                                        "status": "investigating", "body": "x"})) == {"template"}
    assert invalid_fields(api("POST", "/v1/incidents", {"template": "../etc", "status": "investigating"})) == {
        "template"}
    assert invalid_fields(api("POST", "/v1/incidents", {"template": 7})) == {"template"}
    assert invalid_fields(api("POST", "/v1/maintenances", {"template": "no-such-template"})) == {"template"}
    assert api("GET", "/v1/incidents?limit=100").json["incidents"] == before


def test_templates_replace_list_and_delete(api: Api) -> None:
    # GIVEN a template, replaced once
    first = put_template(api, "to-delete", {**TEMPLATE, "name": "Before"})
    reply = api("PUT", "/v1/templates/to-delete", {"name": "After", "title": "T", "body": "B"})
    # THEN the replacement answers 200 and keeps nothing of the first but its creation time
    assert reply.status == 200
    assert reply.json["name"] == "After" and reply.json["status"] is None and reply.json["components"] is None
    assert reply.json["created_at"] == first["created_at"]
    # AND the list shows it, by id, a page at a time
    ids: list[str] = []
    cursor = None
    while True:
        page = api("GET", "/v1/templates?limit=2" + (f"&cursor={cursor}" if cursor else "")).json
        ids += [t["id"] for t in page["templates"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert "to-delete" in ids and ids == sorted(ids)
    # WHEN it is deleted
    assert api("DELETE", "/v1/templates/to-delete").status == 204
    # THEN it is gone: GET and DELETE 404, and an incident cannot use it
    assert api("GET", "/v1/templates/to-delete").status == 404
    assert api("DELETE", "/v1/templates/to-delete").status == 404
    assert invalid_fields(api("POST", "/v1/incidents", {"template": "to-delete"})) == {"template"}


# --- the audience preview ------------------------------------------------------------

def test_the_audience_preview_equals_what_an_update_delivers(stack: LocalStack, api: Api, outbox: Outbox) -> None:
    tag = uuid.uuid4().hex[:6]
    with receivers() as rx:
        # GIVEN confirmed subscribers of the API, of Mail and of everything, and one not confirmed
        who = {name: f"aud-{name}-{tag}@example.com" for name in ("api", "mail", "all", "pending", "dns")}
        confirmed(stack, api, outbox, who["api"], ["tpl-api"])
        confirmed(stack, api, outbox, who["mail"], ["tpl-mail"])
        confirmed(stack, api, outbox, who["all"])
        confirmed(stack, api, outbox, who["dns"], ["tpl-dns"])
        assert subscribe(api, who["pending"], ["tpl-api"]).status == 202
        wait_for(lambda: len(outbox.to(who["pending"])) == 1)
        # AND a partner webhook on the API, a Slack endpoint on Mail, a webhook on DNS only,
        # and one on the API that wants maintenance news only
        rx.behaviours[f"/slack-{tag}"] = app_like("slack")
        hooks = {path: api("POST", "/v1/webhooks", {"url": f"{rx.url}/{path}-{tag}", **fields}).json
                 for path, fields in (("partner", {"components": ["tpl-api"]}),
                                      ("slack", {"components": ["tpl-mail"], "format": "slack"}),
                                      ("dns", {"components": ["tpl-dns"]}),
                                      ("maint", {"components": ["tpl-api"], "events": ["maintenance.scheduled"]}))}
        assert all("id" in h for h in hooks.values()), hooks
        stack.wait_idle(timeout=60)

        # WHEN staff preview an incident touching the API and Mail
        reply = api("POST", "/v1/audience", {"components": ["tpl-api", "tpl-mail"], "event": "incident.created"})
        # THEN it counts the three confirmed subscribers it reaches, the partner and the Slack endpoint
        assert reply.status == 200, reply.raw
        preview = reply.json
        assert {k: preview[k] for k in ("email", "webhook", "chat", "total")} == {
            "email": 3, "webhook": 1, "chat": 1, "total": 5}

        # WHEN that incident is posted
        name = f"Audience check {tag}"
        opened = api("POST", "/v1/incidents", {"name": name, "status": "investigating", "body": "Checking.",
                                               "components": {"tpl-api": "degraded_performance",
                                                              "tpl-mail": "degraded_performance"}})
        assert opened.status == 201, opened.raw
        incident_id = opened.json["id"]
        stack.wait_idle(timeout=120)
        time.sleep(0.5)
        # THEN as many mails went out for it as the preview said, to the addresses it meant
        mailed = {address for address, mails in outbox.by_recipient().items()
                  if any(name in str(m["Subject"]) for m in mails)}
        assert len(mailed) == preview["email"]
        assert {who["api"], who["mail"], who["all"]} <= mailed
        assert who["pending"] not in mailed and who["dns"] not in mailed
        # AND as many webhook and chat endpoints got it as the preview said
        got = {path for path in ("partner", "slack", "dns", "maint")
               if any(incident_id in r.body.decode() or name in r.body.decode() for r in rx.at(f"/{path}-{tag}"))}
        assert got == {"partner", "slack"}
        log = {path: api("GET", f"/v1/webhooks/{h['id']}/deliveries").json["deliveries"] for path, h in hooks.items()}
        assert {path for path, deliveries in log.items() if deliveries} == {"partner", "slack"}
        assert len(got) == preview["webhook"] + preview["chat"]

        # AND the preview of every component counts the DNS subscriber and webhook too
        everything = api("POST", "/v1/audience", {}).json
        assert (everything["email"], everything["webhook"], everything["chat"]) == (4, 2, 1)
        assert set(everything["components"]) == set(COMPONENTS)
        # AND one of a maintenance on the API counts the endpoint that wants only those
        maintenance = api("POST", "/v1/audience", {"components": ["tpl-api"], "event": "maintenance.scheduled"}).json
        assert (maintenance["email"], maintenance["webhook"], maintenance["chat"]) == (2, 2, 0)
        for hook in hooks.values():
            assert api("DELETE", f"/v1/webhooks/{hook['id']}").status == 204
        assert api("POST", f"/v1/incidents/{incident_id}/updates", {"status": "resolved", "body": "Done.",
                                                                     "notify": False}).status == 201


def test_the_audience_preview_refuses_unknown_components(api: Api) -> None:
    # WHEN the preview names a component that does not exist, or no component id
    # THEN 422 naming it
    assert invalid_fields(api("POST", "/v1/audience", {"components": ["tpl-api", "no-such"]})) == {
        "components.no-such"}
    assert invalid_fields(api("POST", "/v1/audience", {"components": ["Not An Id"]})) == {"components.0"}
    assert invalid_fields(api("POST", "/v1/audience", {"event": "webhook.test"})) == {"event"}
    assert json.loads(api("POST", "/v1/audience", raw=b"[]").raw)["error"]["details"][0]["field"] == "body"


def test_template_writes_are_audited_and_a_viewer_may_read_but_not_preview(api: Api) -> None:
    # GIVEN a responder key and a viewer key
    name = f"tpl-writer-{uuid.uuid4().hex[:6]}"
    writer = Api(api.url, api("POST", "/v1/keys", {"name": name, "role": "responder"}).json["key"])
    viewer = Api(api.url, api("POST", "/v1/keys", {"name": f"{name}-viewer", "role": "viewer"}).json["key"])
    # WHEN the responder creates, replaces and deletes a template
    assert writer("PUT", "/v1/templates/audited", TEMPLATE).status == 201
    assert writer("PUT", "/v1/templates/audited", {**TEMPLATE, "impact": "minor"}).status == 200
    assert writer("DELETE", "/v1/templates/audited").status == 204
    # THEN each write is one entry naming the template and what the API answered
    entries = api("GET", f"/v1/audit?actor={name}").json["entries"]
    assert [(e["method"], e["target_id"], e["status"]) for e in reversed(entries)] == [
        ("PUT", "audited", 201), ("PUT", "audited", 200), ("DELETE", "audited", 204)]
    # AND a viewer reads templates but may not preview an audience (403 naming the role)
    assert viewer("GET", "/v1/templates").status == 200
    refused = viewer("POST", "/v1/audience", {"components": ["tpl-api"]})
    assert refused.status == 403 and "responder" in refused.json["error"]["message"]
    assert writer("POST", "/v1/audience", {"components": ["tpl-api"]}).status == 200
