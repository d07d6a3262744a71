"""The mails as bytes: built by `email_messages`, read back with Python's
`email` parser (policy.default), as a mail client or a spam filter reads them."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from status_fanout import email_messages, lifecycle, public_json
from status_fanout.fanout import EventRef, Planner
from status_fanout.models import Incident, IncidentUpdate
from status_fanout.settings import Settings
from status_fanout.webhooks import EventSnapshot
from tests.unit.test_feeds import SEED, seed_components

SETTINGS = Settings(table_name="t", page_name="Bottlenose", page_url="https://status.example.com",
                    page_time_zone="America/New_York", sender_address="status@bottlenose.example")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# As long as the real links: an execute-api origin and a ~90-character token.
LINKS = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod/v1/subscriptions"
TOKEN = "Y29uZmlybTpzdWJfMDFKQUJDREVGR0hKS01OUFFSU1RWV1hZWjoxNzk1NzgyNDAw.q7Xk3mTz9sLwVbNcRdYhEg"
QP_MAX, LINE_MAX = 76, 998  # RFC 2045 §6.7 (quoted-printable), RFC 5322 §2.1.1 (any line)


def live_seed() -> tuple[Incident, list[IncidentUpdate]]:
    """The seed incident posted live, each update at its own time: every update notifies."""
    doc = json.loads(SEED.read_text())
    components = seed_components()
    first, *rest = doc["incident"]["updates"]
    incident, update = lifecycle.open_incident(
        name=doc["incident"]["name"], status=first["status"], body=first["body"], impact="critical",
        requested_components=first.get("components"), notify=True, display_at=None, components=components,
        now=datetime.fromisoformat(first["display_at"]))
    updates = [update]
    for item in rest:
        incident, update = lifecycle.add_update(
            incident, updates, status=item["status"], body=item["body"], impact=None,
            requested_components=item.get("components"), notify=True, display_at=None, components=components,
            now=datetime.fromisoformat(item["display_at"]))
        updates.append(update)
    incident = lifecycle.publish_postmortem(incident, body=doc["incident"]["postmortem"]["body"], notify=True,
                                            display_at=None,
                                            now=datetime.fromisoformat(doc["incident"]["postmortem"]["display_at"]))
    return incident, updates


def seed_events() -> list[EventSnapshot]:
    """The events the planner snapshots for the live seed: six updates, then the postmortem."""
    incident, updates = live_seed()
    components = seed_components()
    status = public_json.status_object(components.values(), [])
    planner = Planner(None, None, SETTINGS)  # type: ignore[arg-type]  # snapshots need no AWS
    events = [planner._incident_event(EventRef("update", incident.id, update_seq=u.seq), incident, updates,
                                      components, status) for u in updates]
    events.append(planner._incident_event(EventRef("postmortem", incident.id), incident, updates, components,
                                          status))
    assert all(events)
    return [e for e in events if e is not None]


def component_event() -> EventSnapshot:
    components = seed_components()
    changed = components["email-marketing"].model_copy(update={"status": "degraded_performance"})
    components[changed.id] = changed
    planner = Planner(None, None, SETTINGS)  # type: ignore[arg-type]
    event = planner._component_event(EventRef("component", component_id=changed.id, old_status="operational",
                                              version=2), components, {"indicator": "minor"})
    assert event is not None
    return event


def update_mail(event: EventSnapshot, subscriber: str = "sub_01") -> bytes:
    return email_messages.update_message(
        SETTINGS, event, to="reader@example.com", message_id=f"<msg_{event.id.replace(':', '.')}@bottlenose.example>",
        unsubscribe_url=f"{LINKS}/unsubscribe?token={TOKEN}", manage_url=f"{LINKS}/manage?token={TOKEN}",
        subscribed_to=["SMTP Email", "Transactional Emails", "Email Marketing", "POP3/IMAP Email"], now=NOW)


def confirm_mail() -> bytes:
    return email_messages.confirm_message(
        SETTINGS, to="reader@example.com", message_id="<confirm.req1@bottlenose.example>",
        confirm_url=f"{LINKS}/confirm?token={TOKEN}",
        subscribed_to=["SMTP Email", "Transactional Emails", "Email Marketing", "POP3/IMAP Email"], now=NOW)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every body text the templates produced, in order, before any transfer encoding."""
    seen: list[str] = []
    original = email_messages._render

    def recording(name: str, **context: Any) -> str:
        seen.append(original(name, **context))
        return seen[-1]

    monkeypatch.setattr(email_messages, "_render", recording)
    yield seen


def every_kind_of_mail() -> dict[str, Any]:
    events = seed_events()
    return {
        "confirmation": confirm_mail,
        **{f"{e.type} #{n} ({(e.update or {}).get('label')})": (lambda n=n: update_mail(seed_events()[n]))
           for n, e in enumerate(events)},
        "component change": lambda: update_mail(component_event()),
    }


@pytest.mark.parametrize("kind", list(every_kind_of_mail()))
def test_every_line_of_every_mail_fits_the_mime_limits_and_decodes_to_what_was_rendered(
        kind: str, rendered: list[str]) -> None:
    # WHEN a mail of this kind is built
    raw = every_kind_of_mail()[kind]()
    text, html = rendered
    # THEN no line anywhere exceeds 998 characters (RFC 5322), CRLF excluded
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= LINE_MAX
    message = parse(raw)
    parts = [p for p in message.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part, body in zip(parts, (text, html), strict=True):
        # AND every line of a quoted-printable part is at most 76 characters (RFC 2045 §6.7)
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        encoded = str(part.get_payload())
        too_long = [line for line in encoded.splitlines() if len(line) > QP_MAX]
        assert too_long == [], (part.get_content_type(), max(map(len, too_long)))
        # AND decoding gives back exactly the text the template rendered: soft line
        # breaks vanish, hard ones are the wire's CRLF (MIME's canonical form)
        assert part.get_content().replace("\r\n", "\n") == body
    # AND the long links survive whole, in the decoded text
    assert f"{LINKS}/" in text and TOKEN in text
