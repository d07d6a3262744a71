"""Email subscriptions end to end: the local stack, its emulated SES, and the
outbox of .eml files read back with Python's `email` parser."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from status_fanout_local.replay import http_sender, read_plans, replay
from status_fanout_local.stack import LocalStack
from tests.conftest import ROOT, SEED, STAFF_TOKEN, Api, Reply, http
from tests.support.inbox import (
    FORM,
    Outbox,
    confirmed,
    link,
    stack_with_outbox,
    subscribe,
    subscriber,
    text_of,
    wait_for,
)

pytestmark = pytest.mark.e2e
SES_EVENTS = ROOT / "events" / "ses"
IP_LIMIT = 40
# A higher send rate than SES's default 14/s keeps the module quick on a busy machine.
ENV = {"FANOUT_SHARDS": "4", "EMAIL_RETRY_BASE_SECONDS": "1", "SUBSCRIBE_IP_LIMIT": str(IP_LIMIT),
       "EMAIL_MAX_SEND_RATE": "100"}
HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "In-Reply-To", "References", "List-Id",
           "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"}
# Every mail of an incident but its first (the thread's root, which replies to nothing)
THREADING = {"In-Reply-To", "References"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with stack_with_outbox(tmp_path_factory.mktemp("outbox"), ENV) as running:
        yield running


@pytest.fixture(scope="module")
def outbox(stack: LocalStack) -> Outbox:
    return Outbox(stack.outbox_dir)


@pytest.fixture(scope="module", autouse=True)
def components(api: Api) -> None:
    for position, (cid, name) in enumerate([("smtp-email", "SMTP Email"), ("pop3-imap-email", "POP3/IMAP Email")]):
        assert api("PUT", f"/v1/components/{cid}", {"name": name, "group": "Email", "position": position}).status \
            in (200, 201)


def address(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def settle(stack: LocalStack) -> None:
    """Everything planned and sent, and the outbox caught up."""
    stack.wait_idle(timeout=120)
    time.sleep(0.5)


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def open_incident(api: Api, name: str, body: str = "We are investigating.", components: dict[str, str] | None = None,
                  ) -> dict[str, Any]:
    reply = api("POST", "/v1/incidents", {"name": name, "status": "investigating", "body": body,
                                          **({"components": components} if components else {})})
    assert reply.status == 201, reply.raw
    return dict(reply.json)


def resolve(api: Api, incident: dict[str, Any]) -> None:
    reply = api("POST", f"/v1/incidents/{incident['id']}/updates", {"status": "resolved", "body": "Resolved."})
    assert reply.status == 201


# --- double opt-in -----------------------------------------------------------------

def test_subscribe_confirm_mail_get_changes_nothing_post_confirms(stack: LocalStack, api: Api,
                                                                  outbox: Outbox) -> None:
    who = address("optin")
    # WHEN an address subscribes
    reply = subscribe(api, who)
    assert reply.status == 202
    # THEN a confirmation mail arrives: its own template, text and HTML, one confirm link
    wait_for(lambda: len(outbox.to(who)) == 1)
    [mail] = outbox.to(who)
    assert mail["Subject"] == "[Bottlenose] Confirm your subscription"
    assert mail.get_content_type() == "multipart/alternative"
    assert "List-Unsubscribe" not in mail
    confirm_url = link(mail, "confirm")
    assert confirm_url in html_of(mail).replace("&amp;", "&")
    assert subscriber(api, who)["state"] == "pending"

    # WHEN a link scanner GETs the link
    page = http(confirm_url)
    # THEN it gets a page with a Confirm button, and nothing changes
    assert page.status == 200 and b"Confirm subscription" in page.raw and b'method="post"' in page.raw
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert subscriber(api, who)["state"] == "pending"
    # AND an update posted now mails nobody at that address
    incident = open_incident(api, "Pending subscribers get nothing")
    settle(stack)
    assert len(outbox.to(who)) == 1

    # WHEN the button is pressed (POST)
    done = http(confirm_url, "POST", raw=b"", headers=FORM)
    assert done.status == 200 and b"Subscription confirmed" in done.raw
    assert subscriber(api, who)["state"] == "confirmed"
    # THEN the next update reaches the address
    resolve(api, incident)
    wait_for(lambda: len(outbox.to(who)) == 2)
    assert outbox.to(who)[-1]["Subject"] == "[Bottlenose] Pending subscribers get nothing — Resolved"


def test_subscribe_form_post_answers_with_a_page(stack: LocalStack, api: Api, outbox: Outbox) -> None:
    who = address("form")
    body = f"email={who.replace('@', '%40')}&components=smtp-email&components=pop3-imap-email".encode()
    reply = http(f"{stack.api_url}/v1/subscriptions", "POST", raw=body, headers=FORM)
    assert reply.status == 202 and reply.headers["Content-Type"].startswith("text/html")
    assert b"Check your inbox" in reply.raw
    wait_for(lambda: len(outbox.to(who)) == 1)
    assert sorted(subscriber(api, who)["components"]) == ["pop3-imap-email", "smtp-email"]
    # bad input is 4xx, never a 500
    assert http(f"{stack.api_url}/v1/subscriptions", "POST", raw=b"email=nope", headers=FORM).status == 422
    assert subscribe(api, "a@b.c\r\nBcc: victim@example.com").status == 422
    assert subscribe(api, who, ["no-such-component"]).status == 422


# --- the seed incident, live ----------------------------------------------------------

def test_seed_live_one_mail_per_update_plus_postmortem_threaded(stack: LocalStack, api: Api,
                                                                outbox: Outbox) -> None:
    who = address("seed")
    confirmed(stack, api, outbox, who)
    before = len(outbox.to(who))
    # WHEN the seed incident is posted live
    plans = read_plans(SEED, live=True)
    [incident] = replay(http_sender(stack.api_url, STAFF_TOKEN), plans, key_prefix=f"email-seed-{who}")
    expected = len(plans[0].updates) + 1
    wait_for(lambda: len(outbox.to(who)) >= before + expected)
    settle(stack)
    mails = outbox.to(who)[before:]
    # THEN exactly one mail per notifying update, plus the postmortem
    assert len(mails) == expected
    labels = ["Investigating", "Update", "Identified", "Update", "Monitoring", "Resolved", "Postmortem"]
    assert sorted(m["Subject"] for m in mails) == sorted(f"[Bottlenose] Mail platform outage — {x}" for x in labels)
    # AND the first mail (Investigating) roots the thread: it replies to nothing, and
    # every later mail names its Message-ID, a message this reader has
    [first] = [m for m in mails if m["Subject"].endswith("— Investigating")]
    root = first["Message-ID"]
    assert "In-Reply-To" not in first and "References" not in first
    ids = set()
    for mail in mails:
        # AND every mail carries the headers
        assert set(mail.keys()) >= (HEADERS - THREADING if mail is first else HEADERS), mail.keys()
        if mail is not first:
            assert mail["In-Reply-To"] == root and mail["References"] == root, mail["Subject"]
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert re.fullmatch(r"<https?://\S+/v1/subscriptions/unsubscribe\?token=\S+>", mail["List-Unsubscribe"])
        assert mail["List-Id"] == "Bottlenose status <bottlenose.status.bottlenose.example>"
        ids.add(mail["Message-ID"])
        # AND text and HTML parts, with links to the incident, manage and unsubscribe
        assert mail.get_content_type() == "multipart/alternative"
        text, html = text_of(mail), html_of(mail)
        assert f"/incidents/{incident['id']}" in text and f"/incidents/{incident['id']}" in html
        assert "/v1/subscriptions/manage?token=" in text and "/v1/subscriptions/unsubscribe?token=" in html
        assert "<script" not in html and "<img" not in html
    assert len(ids) == expected
    # AND a later update carries the earlier ones
    resolved = next(m for m in mails if m["Subject"].endswith("Resolved"))
    assert "Earlier updates" in text_of(resolved) and "A fix has been implemented" in text_of(resolved)
    assert "SMTP Email" in text_of(resolved) or "Affected components" in text_of(resolved)


# --- line lengths on the wire --------------------------------------------------------

QP_MAX, LINE_MAX = 76, 998  # RFC 2045 §6.7 (quoted-printable), RFC 5322 §2.1.1 (any line)
LONG_BODY = ("Outbound mail from every region is queued while we move the delivery fleet to new hosts; "
             "messages are kept, none are lost, and they will be sent in the order they were accepted. "
             "Webhooks and the API are not affected. We will post again within the hour or sooner.")


def overlong(raw: bytes) -> list[tuple[str, int]]:
    """Lines over 998 characters anywhere, or over 76 in a quoted-printable part."""
    found = [("message", len(line)) for line in raw.split(b"\r\n") if len(line) > LINE_MAX]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        if part["Content-Transfer-Encoding"] == "quoted-printable":
            found += [(part.get_content_type(), len(line)) for line in str(part.get_payload()).splitlines()
                      if len(line) > QP_MAX]
    return found


def test_every_kind_of_mail_keeps_its_lines_within_the_mime_limits(stack: LocalStack, api: Api,
                                                                   outbox: Outbox) -> None:
    who = address("lines")
    # GIVEN a subscriber (the confirmation mail), then an incident with a long
    # paragraph, its resolution, a postmortem and a component change
    confirmed(stack, api, outbox, who)
    incident = open_incident(api, "Long lines", LONG_BODY)
    resolve(api, incident)
    assert api("PUT", f"/v1/incidents/{incident['id']}/postmortem", {"body": LONG_BODY, "notify": True}).status \
        == 200
    assert api("PATCH", "/v1/components/pop3-imap-email", {"status": "degraded_performance"}).status == 200
    wait_for(lambda: len(outbox.to(who)) >= 5)
    assert api("PATCH", "/v1/components/pop3-imap-email", {"status": "operational"}).status == 200
    wait_for(lambda: len(outbox.to(who)) >= 6)
    settle(stack)
    assert sorted(m["Subject"] for m in outbox.to(who)) == sorted([
        "[Bottlenose] Confirm your subscription", "[Bottlenose] Long lines — Investigating",
        "[Bottlenose] Long lines — Resolved", "[Bottlenose] Long lines — Postmortem",
        "[Bottlenose] POP3/IMAP Email — Degraded Performance", "[Bottlenose] POP3/IMAP Email — Operational"])
    # THEN every line of every mail's raw bytes is within the limits
    raws = outbox.raw_to(who)
    assert len(raws) == 6
    assert {i: overlong(raw) for i, raw in enumerate(raws) if overlong(raw)} == {}
    # AND the decoded text is whole: the long paragraph on one line, the links intact
    for mail in outbox.to(who):
        text = text_of(mail)
        if "Long lines" in mail["Subject"]:
            assert LONG_BODY in text.splitlines()
        if "List-Unsubscribe" in mail:
            assert mail["List-Unsubscribe"].strip("<>") in text.splitlines()[-1]
        else:
            assert link(mail, "confirm") in text.splitlines()


# --- escaping ---------------------------------------------------------------------------

def test_script_name_and_crlf_body_are_escaped_and_gain_no_header(stack: LocalStack, api: Api,
                                                                  outbox: Outbox) -> None:
    who = address("xss")
    confirmed(stack, api, outbox, who)
    before = len(outbox.to(who))
    name = "<script>alert(1)</script>"
    body = "Look: <img src=x onerror=alert(1)>\r\nBcc: victim@example.com"
    open_incident(api, name, body)
    wait_for(lambda: len(outbox.to(who)) == before + 1)
    mail = outbox.to(who)[-1]
    html = html_of(mail)
    # THEN the HTML part holds neither raw
    assert "<script>alert(1)</script>" not in html and "<img src=x onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # AND no header gained a line: the same header names, no Bcc, no line breaks
    # (the incident's first mail: it roots its thread, so it replies to nothing)
    assert set(mail.keys()) == HEADERS - THREADING
    assert "Bcc" not in mail and all("\n" not in str(v) and "\r" not in str(v) for v in mail.values())
    assert mail["Subject"] == f"[Bottlenose] {name} — Investigating"
    raw = outbox.raw_to(who)[-1]
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    names = [line.split(b":", 1)[0].decode() for line in head if line and line[:1] not in (b" ", b"\t")]
    assert sorted(names) == sorted(HEADERS - THREADING)
    assert b"victim@example.com" not in raw.split(b"\r\n\r\n", 1)[0]


# --- one-click unsubscribe ---------------------------------------------------------------

def test_one_click_unsubscribe_and_forged_tokens(stack: LocalStack, api: Api, outbox: Outbox) -> None:
    who = address("oneclick")
    confirmed(stack, api, outbox, who)
    before = len(outbox.to(who))
    incident = open_incident(api, "One-click check")
    wait_for(lambda: len(outbox.to(who)) == before + 1)
    url = outbox.to(who)[-1]["List-Unsubscribe"].strip("<>")
    token = url.split("token=", 1)[1]

    # A forged or altered token is a 4xx and changes nothing
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in (flipped, "x" + token, token.split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA", "garbage", ""):
        reply = http(url.split("token=")[0] + f"token={bad}", "POST", raw=b"List-Unsubscribe=One-Click",
                     headers=FORM)
        assert 400 <= reply.status < 500, (bad, reply.status)
    # a token for another purpose does not work either (unsubscribe token as a confirm token)
    assert 400 <= http(f"{stack.api_url}/v1/subscriptions/confirm?token={token}", "POST", raw=b"",
                       headers=FORM).status < 500
    assert subscriber(api, who)["state"] == "confirmed"

    # GET shows a page with a button, and changes nothing
    page = http(url)
    assert page.status == 200 and b"List-Unsubscribe" in page.raw and b"One-Click" in page.raw
    assert subscriber(api, who)["state"] == "confirmed"

    # WHEN the mail client POSTs the RFC 8058 body to the header's URL
    reply = http(url, "POST", raw=b"List-Unsubscribe=One-Click", headers=FORM)
    assert reply.status == 200
    assert subscriber(api, who)["state"] == "unsubscribed"
    # THEN the next update mails nobody there (and a repeat POST is still 200)
    resolve(api, incident)
    settle(stack)
    assert len(outbox.to(who)) == before + 1
    assert http(url, "POST", raw=b"List-Unsubscribe=One-Click", headers=FORM).status == 200


# --- component filter --------------------------------------------------------------------

def test_component_subscriber_only_gets_updates_touching_it(stack: LocalStack, api: Api, outbox: Outbox) -> None:
    who = address("pop3")
    confirmed(stack, api, outbox, who, ["pop3-imap-email"])
    before = len(outbox.to(who))
    smtp = open_incident(api, "SMTP only", components={"smtp-email": "degraded_performance"})
    pop3 = open_incident(api, "POP3 trouble", components={"pop3-imap-email": "partial_outage"})
    wait_for(lambda: len(outbox.to(who)) >= before + 1)
    for incident in (smtp, pop3):
        resolve(api, incident)
    settle(stack)
    subjects = [m["Subject"] for m in outbox.to(who)[before:]]
    assert sorted(subjects) == ["[Bottlenose] POP3 trouble — Investigating", "[Bottlenose] POP3 trouble — Resolved"]
    for component in ("smtp-email", "pop3-imap-email"):
        api("PATCH", f"/v1/components/{component}", {"status": "operational"})
    settle(stack)

    # The manage page shows the choice and saves a new one
    manage_url = link(outbox.to(who)[-1], "manage")
    page = http(manage_url)
    assert page.status == 200 and b'value="pop3-imap-email" checked' in page.raw
    saved = http(manage_url, "POST", raw=b"components=smtp-email", headers=FORM)
    assert saved.status == 200
    assert subscriber(api, who)["components"] == ["smtp-email"]


# --- enumeration and throttling -------------------------------------------------------------

VOLATILE = {"date", "x-amzn-requestid", "x-amz-apigw-id", "x-amzn-trace-id", "content-length"}


def comparable(reply: Reply) -> tuple[int, bytes, dict[str, str]]:
    return reply.status, reply.raw, {k.lower(): v for k, v in reply.headers.items() if k.lower() not in VOLATILE}


def test_no_enumeration_and_per_address_throttle(stack: LocalStack, api: Api, outbox: Outbox) -> None:
    known = address("known")
    confirmed(stack, api, outbox, known)
    fresh = address("fresh")
    # A new address, a known confirmed one and a repeat all get the same answer
    answers = [comparable(subscribe(api, who)) for who in (fresh, known, fresh)]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 202
    # WHEN the same address is asked for ten times within the window
    for _ in range(7):
        assert comparable(subscribe(api, fresh)) == answers[0]
    settle(stack)
    # THEN at most three confirmation mails went out: the tenth request sent no tenth mail
    assert len(outbox.to(fresh)) == 3
    # AND the confirmed address got no mail and stays confirmed; only its components may change
    known_mails = len(outbox.to(known))
    assert comparable(subscribe(api, known, ["smtp-email"])) == answers[0]
    settle(stack)
    assert len(outbox.to(known)) == known_mails
    state = subscriber(api, known)
    assert state["state"] == "confirmed" and state["components"] == ["smtp-email"]


def test_per_client_limit_answers_429_with_retry_after(stack: LocalStack) -> None:
    template = json.loads((ROOT / "events" / "apigw" / "create_incident.json").read_text())

    def from_ip(ip: str) -> dict[str, Any]:
        body = json.dumps({"email": address("ip")})
        event = {**template, "resource": "/v1/subscriptions", "path": "/v1/subscriptions", "body": body,
                 "headers": {"Content-Type": "application/json"},
                 "multiValueHeaders": {"Content-Type": ["application/json"]}}
        event["requestContext"] = {**template["requestContext"], "resourcePath": "/v1/subscriptions",
                                   "path": "/prod/v1/subscriptions",
                                   "identity": {**template["requestContext"]["identity"], "sourceIp": ip}}
        return event

    statuses = [stack.invoke("ApiFunction", from_ip("198.51.100.7"))["statusCode"] for _ in range(IP_LIMIT)]
    assert statuses == [202] * IP_LIMIT
    refused = stack.invoke("ApiFunction", from_ip("198.51.100.7"))
    assert refused["statusCode"] == 429
    headers = {k.lower(): v for k, v in (refused.get("headers") or {}).items()}
    headers.update({k.lower(): v[-1] for k, v in (refused.get("multiValueHeaders") or {}).items()})
    assert 0 < int(headers["retry-after"]) <= 3600
    assert json.loads(refused["body"])["error"]["code"] == "throttled"
    # another client is not affected
    assert stack.invoke("ApiFunction", from_ip("198.51.100.8"))["statusCode"] == 202
    settle(stack)


# --- feedback -------------------------------------------------------------------------------

def feedback(stack: LocalStack, sample: str, placeholder: str, who: str) -> Any:
    event = json.loads((SES_EVENTS / f"{sample}.json").read_text().replace(placeholder, who))
    return stack.invoke("EmailFeedbackFunction", event)


def test_bounce_and_complaint_suppress_soft_bounce_counts(stack: LocalStack, api: Api, outbox: Outbox) -> None:
    hard, complained, soft = address("hard"), address("complained"), address("soft")
    ids = {who: confirmed(stack, api, outbox, who) for who in (hard, complained, soft)}
    # WHEN SES reports a permanent bounce, a complaint and a transient bounce (SNS-shaped)
    feedback(stack, "bounce-permanent", "bounce@example.com", hard)
    feedback(stack, "complaint", "complaint@example.com", complained)
    feedback(stack, "bounce-transient", "soft@example.com", soft)
    # THEN the first two are suppressed at once; the soft bounce is counted only
    assert subscriber(api, hard)["state"] == "suppressed"
    assert subscriber(api, hard)["suppressed_reason"].startswith("bounce")
    assert subscriber(api, complained)["state"] == "suppressed"
    assert subscriber(api, soft)["state"] == "confirmed" and subscriber(api, soft)["soft_bounces"] == 1
    suppressed = api("GET", "/v1/subscribers?state=suppressed&limit=100").json["subscribers"]
    assert {hard, complained} <= {s["email"] for s in suppressed}
    counts = {who: len(outbox.to(who)) for who in ids}
    # AND the next update mails only the soft-bounced address
    incident = open_incident(api, "After feedback")
    try:
        wait_for(lambda: len(outbox.to(soft)) == counts[soft] + 1, timeout=60)
    except AssertionError:
        raise AssertionError([m["Subject"] for m in outbox.to(soft)], counts) from None
    settle(stack)
    assert len(outbox.to(hard)) == counts[hard] and len(outbox.to(complained)) == counts[complained]
    # AND a stale delivery job for a suppressed address (planned before the bounce) mails nobody
    event_id = f"upd:{incident['id']}:1"
    job = {"delivery_id": f"stale-{uuid.uuid4().hex}", "event_id": event_id, "event_type": "incident.created",
           "occurred_at": incident["created_at"], "subscriber_id": ids[hard]}
    stack._emulator.client("sqs").send_message(QueueUrl=stack.queue_url("EmailQueue"), MessageBody=json.dumps(job))
    settle(stack)
    assert len(outbox.to(hard)) == counts[hard]
    # AND a re-subscribe of a suppressed address sends nothing (still 202)
    assert subscribe(api, hard).status == 202
    settle(stack)
    assert len(outbox.to(hard)) == counts[hard]
    # Staff can delete a subscriber (and with it the suppression)
    assert api("DELETE", f"/v1/subscribers/{ids[hard]}").status == 204
    assert api("DELETE", f"/v1/subscribers/{ids[hard]}").status == 404
    assert api("GET", "/v1/subscribers?state=nonsense").status == 422
    assert api("GET", "/v1/subscribers", auth=False).status == 401


# --- throttled sends --------------------------------------------------------------------------

def test_throttled_send_is_retried_and_sent_once(stack: LocalStack, api: Api, outbox: Outbox) -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.sesv2.responses import SESV2Response

    who = address("throttled")
    confirmed(stack, api, outbox, who)
    before = len(outbox.to(who))
    original = SESV2Response.send_email
    lock = threading.Lock()
    refused: list[int] = []

    def throttled(self: Any) -> str:
        request = json.loads(self.body)
        raw = base64.b64decode(request["Content"]["Raw"]["Data"])
        if who in request["Destination"]["ToAddresses"] and b"List-Unsubscribe:" in raw:
            with lock:
                if len(refused) < 3:
                    refused.append(1)
                    error = JsonRESTError("TooManyRequestsException", "Maximum sending rate exceeded.")
                    error.code = 429
                    raise error
        return original(self)

    SESV2Response.send_email = throttled  # type: ignore[method-assign]
    try:
        # WHEN SES throttles the first three attempts at this subscriber's update
        open_incident(api, "Throttled once or thrice")
        wait_for(lambda: len(outbox.to(who)) >= before + 1)
        settle(stack)
    finally:
        SESV2Response.send_email = original  # type: ignore[method-assign]
    # THEN it was retried and sent exactly once
    assert len(refused) == 3
    assert len(outbox.to(who)) == before + 1
