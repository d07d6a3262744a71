"""Registering a chat endpoint with AWS's rules (no loopback, https only):
a chat format's URL must be its app's own (docs/chat.md, "Where a URL may
point"). Offline: every URL here is refused before a name would need DNS,
or names an address literally."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from status_fanout.api.auth import hash_token
from status_fanout_local.stack import LocalStack
from tests.conftest import ROOT, STAFF_TOKEN, Api

pytestmark = pytest.mark.e2e
AWS_RULES = {"WEBHOOK_ALLOW_LOOPBACK": "false", "WEBHOOK_ALLOW_HTTP": "false"}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)}, env=AWS_RULES) as running:
        yield running


@pytest.mark.parametrize(("app", "url"), [
    ("slack", "https://8.8.8.8/services/T000/B000/XXXX"),           # a public address, not Slack's
    ("teams", "https://8.8.4.4/workflows/abc/triggers/manual"),
    ("discord", "https://1.1.1.1/api/webhooks/1/token"),
    ("google_chat", "https://9.9.9.9/v1/spaces/AAA/messages?key=k"),
    ("slack", "https://127.0.0.1/services/T000/B000/XXXX"),          # loopback: only the local stack's rules allow it
    ("discord", "http://discord.com/api/webhooks/1/token"),           # plain http
])
def test_a_chat_url_that_is_not_the_apps_is_422_naming_url(stack: LocalStack, api: Api, app: str, url: str) -> None:
    # WHEN staff register a chat endpoint whose URL is not the app's
    reply = api("POST", "/v1/webhooks", {"url": url, "format": app})
    # THEN it is refused, naming the field, and nothing is stored
    assert reply.status == 422, reply.raw
    assert "url" in reply.raw.decode()
    assert api("GET", "/v1/webhooks").json["webhooks"] == []


def test_a_signed_endpoint_cannot_become_a_chat_one_on_a_foreign_host(stack: LocalStack, api: Api) -> None:
    # GIVEN a Standard Webhooks endpoint at a partner's public address
    created = api("POST", "/v1/webhooks", {"url": "https://8.8.8.8/hooks/status"})
    assert created.status == 201, created.raw
    # WHEN staff switch it to Slack's format without giving Slack's URL
    reply = api("PATCH", f"/v1/webhooks/{created.json['id']}", {"format": "slack"})
    # THEN that is refused, and the endpoint is unchanged, still signed
    assert reply.status == 422 and "url" in reply.raw.decode()
    shown = api("GET", f"/v1/webhooks/{created.json['id']}").json
    assert shown["format"] == "standard" and shown["url"] == "https://8.8.8.8/hooks/status"
    assert api("POST", f"/v1/webhooks/{created.json['id']}/rotate-secret").status == 201
    api("DELETE", f"/v1/webhooks/{created.json['id']}")
