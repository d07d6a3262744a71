"""Chat destinations end to end (docs/chat.md): the local stack, loopback
receivers that answer as Slack, Teams, Discord and Google Chat do, and each
message read back as the app would read it (Slack's own SDK for Block Kit,
the Adaptive Card schema for Teams)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import jsonschema
import pytest
from slack_sdk.models.blocks import Block

from status_fanout.api.auth import hash_token
from status_fanout_local.replay import http_sender, read_plans, replay
from status_fanout_local.stack import LocalStack
from tests.conftest import DATA, ROOT, SEED, STAFF_TOKEN, Api
from tests.support.receivers import Receivers, always, app_like, receivers, then_app_like

pytestmark = pytest.mark.e2e
APPS = ("slack", "teams", "discord", "google_chat")
# The schedule as deployed (30 s steps) scaled to 0.3 s: a retry that waits
# a second or more waits for the app's Retry-After, which is never scaled.
FAST = {"WEBHOOK_RETRY_SCHEDULE": "30,30,30", "WEBHOOK_RETRY_SCALE": "0.01", "WEBHOOK_TIMEOUT_SECONDS": "2",
        "FANOUT_SHARDS": "4"}
HOSTILE = "@everyone <!channel> <!here> <@U1> <at>Bob</at> [click](https://evil.example) <script>alert(1)</script>"
CARD_SCHEMA = jsonschema.Draft6Validator(json.loads((DATA / "schemas" / "adaptive-card.json").read_text()))


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)}, env=FAST) as running:
        yield running


def register(api: Api, url: str, app: str, **fields: Any) -> dict[str, Any]:
    reply = api("POST", "/v1/webhooks", {"url": url, "format": app, **fields})
    assert reply.status == 201, reply.raw
    return dict(reply.json)


def endpoints(api: Api, rx: Receivers, prefix: str, **fields: Any) -> dict[str, dict[str, Any]]:
    """One endpoint per app, each at its own path answering as that app does."""
    hooks = {}
    for app in APPS:
        rx.behaviours[f"/{prefix}-{app}"] = app_like(app)
        hooks[app] = register(api, f"{rx.url}/{prefix}-{app}", app, **fields)
    return hooks


def visible_text(app: str, message: dict[str, Any]) -> str:
    """Every string the app shows of a message, joined."""
    strings: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key not in ("type", "url", "contentType", "$schema", "version", "cardId",
                                                    "style", "color", "size", "weight", "action_id", "spacing"):
            strings.append(node)
    walk(message)
    return "\n".join(strings)


def markup_strings(app: str, message: dict[str, Any]) -> list[str]:
    """The strings each app parses for markup, links and mentions (Slack's
    plain_text header is shown as typed, so it is not one of them)."""
    if app == "slack":
        found: list[str] = [message["text"]]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") == "mrkdwn":
                    found.append(node["text"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(message["blocks"])
        return found
    if app == "discord":
        [embed] = message["embeds"]
        fields = [f[k] for f in embed["fields"] for k in ("name", "value")]
        return [embed["title"], embed.get("description", ""), *fields]
    if app == "teams":
        card = message["attachments"][0]["content"]
        blocks = [b for b in card["body"] if b["type"] == "TextBlock"] + card["body"][0]["items"]
        facts = [v for b in card["body"] if b["type"] == "FactSet" for f in b["facts"] for v in f.values()]
        return [b["text"] for b in blocks] + facts
    return [message["text"], *(json.dumps(s) for s in message["cardsV2"][0]["card"]["sections"])]


def unescaped_markup(app: str, text: str) -> list[str]:
    """What would still act as markup: a raw `<` or `>` (Slack), an unescaped
    `<` or `[` (markdown), a tag that is not ours (Google Chat)."""
    if app == "slack":
        return re.findall(r"[<>]", text)
    if app in ("discord", "teams"):
        return re.findall(r"(?<!\\)[<\[]", text)
    return re.findall(r"<(?!\u2060|b>|/b>|br>|a href=|/a>)", text)


def check_structure(app: str, message: dict[str, Any]) -> None:
    """Each app's own rules: what it would refuse, this would not send."""
    if app == "slack":
        assert message["text"] and len(message["blocks"]) <= 50
        for block in message["blocks"]:
            parsed = Block.parse(block)
            assert parsed is not None and parsed.type == block["type"]
            parsed.validate_json()
    elif app == "teams":
        assert message["type"] == "message"
        [attachment] = message["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert not list(CARD_SCHEMA.iter_errors(attachment["content"]))
        assert len(json.dumps(message).encode()) <= 28 * 1024
    elif app == "discord":
        assert message["allowed_mentions"] == {"parse": []}
        [embed] = message["embeds"]
        assert len(embed["title"]) <= 256 and len(embed.get("description", "")) <= 4096
        assert len(embed["fields"]) <= 25
        total = len(embed["title"]) + len(embed.get("description", "")) + len(embed["footer"]["text"]) + len(
            embed["author"]["name"]) + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
        assert total <= 6000
    else:
        assert message["text"] and len(message["text"]) <= 4096
        [card] = message["cardsV2"]
        assert card["card"]["header"]["title"] and card["card"]["sections"]
        assert len(json.dumps(message).encode()) <= 32_000


def test_seed_posted_live_reaches_each_chat_app_once_per_update(stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        # GIVEN one endpoint per chat app, and a Slack one filtered to a component the seed never touches
        hooks = endpoints(api, rx, "seed")
        rx.behaviours["/seed-unrelated"] = app_like("slack")
        api("PUT", "/v1/components/status-api", {"name": "Status API", "position": 9})
        unrelated = register(api, f"{rx.url}/seed-unrelated", "slack", components=["status-api"])
        # WHEN the seed incident is posted live, update by update
        plans = read_plans(SEED, live=True)
        [incident] = replay(http_sender(stack.api_url, STAFF_TOKEN), plans, key_prefix="chat-seed")
        expected = len(plans[0].updates) + 1
        rx.wait_for(lambda: all(len(rx.at(f"/seed-{app}")) >= expected for app in APPS), timeout=60)
        stack.wait_idle(timeout=30)
        time.sleep(1)
        # THEN each app got one message per update plus the postmortem, unsigned, each as the app takes it
        seed = json.loads(SEED.read_text())["incident"]
        for app in APPS:
            got = rx.at(f"/seed-{app}")
            assert len(got) == expected, app
            assert not any(k.lower().startswith("webhook-") for r in got for k in r.headers)
            for received in got:
                check_structure(app, received.json)
            shown = [visible_text(app, r.json) for r in got]
            assert all("Mail platform outage" in text for text in shown), app
            # the updates' opening words arrive (each app escapes its own markup)
            for update in seed["updates"]:
                opening = " ".join(update["body"].split()[:3])
                assert any(opening in text for text in shown), (app, opening)
            assert sum("Postmortem" in text for text in shown) >= 1, app
            assert any(f"/incidents/{incident['id']}" in json.dumps(r.json) for r in got), app
        # AND the component filter held
        assert rx.at("/seed-unrelated") == []
        # AND the deliveries log shows each app's own success code
        for app, code in (("slack", 200), ("teams", 202), ("discord", 204), ("google_chat", 200)):
            log = api("GET", f"/v1/webhooks/{hooks[app]['id']}/deliveries?limit=100").json["deliveries"]
            assert len(log) == expected and {d["status"] for d in log} == {"delivered"}
            assert {d["attempts"][0]["status_code"] for d in log} == {code}
        for hook in (*hooks.values(), unrelated):
            assert api("DELETE", f"/v1/webhooks/{hook['id']}").status == 204


def test_chat_endpoints_have_no_secret_and_show_their_url_masked(stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        # GIVEN a Discord endpoint whose URL carries the webhook's token
        token = "aBcD3fGhIjKlMnOpQrStUvWxYz0123456789"
        created = register(api, f"{rx.url}/api/webhooks/123456/{token}", "discord")
        # THEN it has no secret, and the API never shows the token again
        assert "secret" not in created
        shown = [created, api("GET", f"/v1/webhooks/{created['id']}").json,
                 *api("GET", "/v1/webhooks?limit=100").json["webhooks"]]
        assert all(token not in json.dumps(s) for s in shown)
        assert created["url"].startswith(rx.url) and created["url"].endswith(token[-4:])
        # AND it has no secret to rotate
        rotated = api("POST", f"/v1/webhooks/{created['id']}/rotate-secret")
        assert rotated.status == 409 and b"URL" in rotated.raw
        # WHEN staff send a test message
        rx.behaviours[f"/api/webhooks/123456/{token}"] = app_like("discord")
        assert api("POST", f"/v1/webhooks/{created['id']}/test").status == 202
        rx.wait_for(lambda: rx.at(f"/api/webhooks/123456/{token}"))
        # THEN the sample arrives as a Discord message
        [ping] = rx.at(f"/api/webhooks/123456/{token}")
        check_structure("discord", ping.json)
        assert "test message" in visible_text("discord", ping.json).lower()
        # WHEN it becomes a Standard Webhooks endpoint, it is signed from then on, its new secret shown once
        changed = api("PATCH", f"/v1/webhooks/{created['id']}", {"format": "standard"})
        assert changed.status == 200 and changed.json["secret"].startswith("whsec_")
        assert changed.json["url"].endswith(token)
        assert "secret" not in api("GET", f"/v1/webhooks/{created['id']}").json
        api("DELETE", f"/v1/webhooks/{created['id']}")


def test_hostile_text_arrives_inert_and_a_long_update_is_cut_to_each_apps_limits(stack: LocalStack, api: Api) -> None:
    with receivers() as rx:
        hooks = endpoints(api, rx, "text")
        # WHEN an incident's update is hostile markup, and a later one is 20,000 characters
        created = api("POST", "/v1/incidents", {"name": f"Outage {HOSTILE}", "status": "investigating",
                                                "body": HOSTILE, "impact": "major"})
        assert created.status == 201, created.raw
        words = ("The relay queue is draining slowly while we move traffic to the standby region. " * 250)[:20_000]
        assert api("POST", f"/v1/incidents/{created.json['id']}/updates",
                   {"status": "identified", "body": words}).status == 201
        rx.wait_for(lambda: all(len(rx.at(f"/text-{app}")) >= 2 for app in APPS), timeout=60)
        link = f"/incidents/{created.json['id']}"
        for app in APPS:
            hostile, long = sorted(rx.at(f"/text-{app}"), key=lambda r: len(r.body))
            check_structure(app, hostile.json)
            check_structure(app, long.json)
            raw = json.dumps(hostile.json, ensure_ascii=False)
            # THEN nothing in the hostile one can mention, link or run anything
            assert "@everyone" not in raw and "@\u2060everyone" in raw, app
            for markup in markup_strings(app, hostile.json):
                assert not unescaped_markup(app, markup), (app, markup)
            # AND the long one is cut at a word, with "…" and the link to the rest
            text = visible_text(app, long.json) + json.dumps(long.json)
            assert "…" in text and link in text, app
            cut = text[: text.index("…")]
            assert cut.rstrip().endswith(("slowly", "while", "we", "move", "traffic", "to", "the", "standby",
                                          "region.", "The", "relay", "queue", "is", "draining")), (app, cut[-30:])
        assert "&lt;!channel&gt;" in json.dumps(rx.at("/text-slack")[0].json)
        for hook in hooks.values():
            api("DELETE", f"/v1/webhooks/{hook['id']}")


def _log(api: Api, webhook_id: str) -> list[dict[str, Any]]:
    return list(api("GET", f"/v1/webhooks/{webhook_id}/deliveries").json["deliveries"])


def test_each_apps_answers_throttle_disable_or_dead_letter(stack: LocalStack, api: Api) -> None:
    discord_limited = json.dumps({"message": "You are being rate limited.", "retry_after": 1.2,
                                  "global": False}).encode()
    behaviours = {
        "/slack-throttled": then_app_like(always(429, {"Retry-After": "1"}, b"rate_limited"), 1, "slack"),
        "/discord-throttled": then_app_like(always(429, {"Content-Type": "application/json"}, discord_limited), 1,
                                            "discord"),
        "/teams-down": then_app_like(always(502), 1, "teams"),
        "/slack-archived": always(410, {}, b"channel_is_archived"),
        "/discord-deleted": always(404, {}, b'{"message": "Unknown Webhook", "code": 10015}'),
        "/slack-invalid": always(400, {}, b"invalid_blocks"),
    }
    apps = {"/slack-throttled": "slack", "/discord-throttled": "discord", "/teams-down": "teams",
            "/slack-archived": "slack", "/discord-deleted": "discord", "/slack-invalid": "slack"}
    # Staff hear of a disabled endpoint on the ops topic: subscribe a queue to it, as an operator would.
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    inbox = sqs.create_queue(QueueName="chat-ops-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.physical["OpsTopic"], Protocol="sqs", Endpoint=inbox_arn)
    with receivers(behaviours) as rx:
        hooks = {path: register(api, rx.url + path, app) for path, app in apps.items()}
        # WHEN an update is posted
        assert api("POST", "/v1/incidents", {"name": "Answers", "status": "investigating",
                                             "body": "testing answers"}).status == 201
        rx.wait_for(lambda: all(len(rx.at(p)) >= 2 for p in ("/slack-throttled", "/discord-throttled",
                                                              "/teams-down")), timeout=40)
        stack.wait_idle(timeout=30)
        time.sleep(1.5)
        # THEN a 429 is retried when the app says, never sooner, however fast the schedule is scaled
        slack_retry = rx.at("/slack-throttled")
        assert [r.status for r in slack_retry] == [429, 200]
        assert slack_retry[1].at - slack_retry[0].at >= 1.0
        discord_retry = rx.at("/discord-throttled")
        assert [r.status for r in discord_retry] == [429, 204]
        assert discord_retry[1].at - discord_retry[0].at >= 2.0  # retry_after 1.2, in whole seconds: 2
        # AND a 5xx follows the (scaled) schedule
        assert [r.status for r in rx.at("/teams-down")] == [502, 202]
        # AND 410 and 404 disable the endpoint after one attempt, and staff are told
        for path in ("/slack-archived", "/discord-deleted"):
            assert len(rx.at(path)) == 1, path
            shown = api("GET", f"/v1/webhooks/{hooks[path]['id']}").json
            assert shown["status"] == "disabled", path
            assert str(rx.at(path)[0].status) in shown["disabled_reason"]
        notices = []
        deadline = time.monotonic() + 10
        while len(notices) < 2 and time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []):
                notices.append(json.loads(message["Body"])["Message"])
        assert {hooks[p]["id"] for p in ("/slack-archived", "/discord-deleted")} <= {
            n.split()[1] for n in notices}
        assert not any("/slack-archived" in n or "/discord-deleted" in n for n in notices)  # the URL stays masked
        # AND a 400 dead-letters that delivery at once, with the app's answer in the log; the endpoint stays active
        assert len(rx.at("/slack-invalid")) == 1
        [entry] = _log(api, hooks["/slack-invalid"]["id"])
        assert entry["status"] == "dead" and len(entry["attempts"]) == 1
        assert entry["attempts"][0]["status_code"] == 400 and entry["attempts"][0]["response"] == "invalid_blocks"
        assert api("GET", f"/v1/webhooks/{hooks['/slack-invalid']['id']}").json["status"] == "active"
        # AND it can be replayed once the problem is fixed
        rx.behaviours["/slack-invalid"] = app_like("slack")
        replayed = api("POST", f"/v1/webhooks/{hooks['/slack-invalid']['id']}/replay",
                       {"since": "2000-01-01T00:00:00Z"})
        assert replayed.status == 202 and replayed.json["replayed"] == 1
        rx.wait_for(lambda: rx.delivered("/slack-invalid"), timeout=15)
        for hook in hooks.values():
            api("DELETE", f"/v1/webhooks/{hook['id']}")
