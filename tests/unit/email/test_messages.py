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

from status_fanout.delivery.events import EventSnapshot
from status_fanout.delivery.planner import EventRef, Planner
from status_fanout.email import messages as email_messages
from status_fanout.incidents import lifecycle
from status_fanout.incidents.models import Incident, IncidentUpdate
from status_fanout.publishing import public_json
from status_fanout.settings import EmailSettings, PageSettings, Settings
from tests.unit.publishing.test_feeds import SEED, seed_components

SETTINGS = Settings(table_name="t",
                    page=PageSettings(name="Bottlenose", url="https://status.example.com",
                                      time_zone="America/New_York"),
                    email=EmailSettings(sender_address="status@bottlenose.example"))
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
        SETTINGS, event, to="reader@example.com", subscriber_id=subscriber,
        message_id=f"<msg_{event.id.replace(':', '.')}.{subscriber}@bottlenose.example>",
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
    """Every body text a mail was given (rendered, its links filled in), in order, before any transfer encoding."""
    seen: list[str] = []
    original = email_messages._alternative

    def recording(message: EmailMessage, text: str, html: str) -> bytes:
        seen.extend((text, html))
        return original(message, text, html)

    monkeypatch.setattr(email_messages, "_alternative", recording)
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


# --- threading --------------------------------------------------------------------

def threading_of(raw: bytes) -> tuple[str, str | None, str | None]:
    message = parse(raw)
    return message["Message-ID"], message["In-Reply-To"], message["References"]


def test_the_first_mail_of_an_incident_roots_the_thread_every_later_mail_names() -> None:
    events = seed_events()
    # WHEN one subscriber gets every mail of the live seed (six updates, the postmortem)
    mails = [threading_of(update_mail(e)) for e in events]
    # THEN the first mail is the root: it replies to nothing
    (root, replies_to, references), *later = mails
    assert replies_to is None and references is None
    # AND every later mail names the root, a message this reader has
    assert [(r, refs) for _, r, refs in later] == [(root, root)] * 6
    # AND every mail has its own Message-ID, the same when built again (a retry)
    assert len({mid for mid, _, _ in mails}) == 7
    assert [threading_of(update_mail(e)) for e in events] == mails
    # AND another subscriber's mails are other messages, threaded the same way
    theirs = [threading_of(update_mail(e, "sub_02")) for e in events]
    assert not {mid for mid, _, _ in theirs} & {mid for mid, _, _ in mails}
    assert all(r == refs == theirs[0][0] for _, r, refs in theirs[1:])


def test_a_subscriber_who_joins_mid_incident_threads_on_the_root_they_never_got() -> None:
    events = seed_events()
    root = threading_of(update_mail(events[0], "sub_late"))[0]
    # A subscriber confirmed after the first two updates gets updates 3 onwards:
    # they name the root the first mail would have had, deterministically, so
    # their mails still thread with each other (docs/email.md)
    assert {threading_of(update_mail(e, "sub_late"))[1:] for e in events[2:]} == {(root, root)}


def test_backfilled_updates_never_root_the_thread_and_component_mails_do_not_thread() -> None:
    incident, updates = live_seed()
    # GIVEN the first two updates were backfilled (they notified nobody)
    updates = [u.model_copy(update={"deliver_notifications": False, "backfilled": True}) if u.seq <= 2 else u
               for u in updates]
    components = seed_components()
    planner = Planner(None, None, SETTINGS)  # type: ignore[arg-type]
    status = public_json.status_object(components.values(), [])
    events = [planner._incident_event(EventRef("update", incident.id, update_seq=seq), incident, updates, components,
                                      status) for seq in (3, 4, 6)]
    mails = [threading_of(update_mail(e)) for e in events if e is not None]
    # THEN the first notifying update's mail is the root
    assert mails[0][1:] == (None, None)
    assert [m[1:] for m in mails[1:]] == [(mails[0][0], mails[0][0])] * 2
    # AND a component change is not part of any thread
    assert threading_of(update_mail(component_event()))[1:] == (None, None)



def test_an_event_rendered_once_gives_each_subscriber_the_mail_rendered_for_them_alone() -> None:
    # GIVEN one event's mail rendered once for a batch, and two subscribers with their own links
    event = seed_events()[2]
    components = ["SMTP Email"]
    once = email_messages.render_update(SETTINGS, event, components)

    def mail(subscriber: str, rendered: Any) -> bytes:
        return email_messages.update_message(
            SETTINGS, event, to=f"{subscriber}@example.com", subscriber_id=subscriber,
            message_id=f"<d.{subscriber}@bottlenose.example>",
            unsubscribe_url=f"{LINKS}/unsubscribe?token={subscriber}T",
            manage_url=f"{LINKS}/manage?token={subscriber}M", subscribed_to=components, now=NOW, rendered=rendered)

    for subscriber in ("ann", "bob"):
        # WHEN the subscriber's mail is built from the shared rendering
        shared = mail(subscriber, once)
        # THEN it is the mail rendered for them alone: the same headers and bodies (only the
        # multipart boundary, random, differs)
        message, alone = parse(shared), parse(mail(subscriber, None))
        bodies = [p.get_content() for p in message.walk() if not p.is_multipart()]
        assert bodies == [p.get_content() for p in alone.walk() if not p.is_multipart()]
        assert [(k, v) for k, v in message.items() if k != "Content-Type"] == \
               [(k, v) for k, v in alone.items() if k != "Content-Type"]
        # AND it carries their links only, and no stand-in
        other = "bob" if subscriber == "ann" else "ann"
        assert all(f"token={subscriber}T" in b and f"token={subscriber}M" in b for b in bodies)
        assert not any(f"token={other}" in b or "status-fanout.invalid" in b for b in bodies)
        assert message["List-Unsubscribe"] == f"<{LINKS}/unsubscribe?token={subscriber}T>"
