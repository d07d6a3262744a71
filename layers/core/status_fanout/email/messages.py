"""The emails themselves: raw MIME built with Python's `email` package.

- multipart/alternative, text then HTML; the HTML is rendered by Jinja2 with
  autoescape on, inline styles only: no remote images, no scripts, no CSS
  that loads anything.
- Nothing user-written reaches a header unsanitised: every header value goes
  through `header_text` (CR, LF and every other control or line-separator
  character become a space) and then through the `email` package's header
  machinery, which encodes non-ASCII text (RFC 2047) and refuses a value
  that still holds a line break.
- Threading: the mail of an incident's first notifying update is the thread's
  root. Its `Message-ID` is derived from (incident, that update, subscriber),
  so every later mail of the incident to that subscriber names it in
  `In-Reply-To` and `References` without anything being stored, and a mail
  client shows the incident as one conversation. Every other mail's
  `Message-ID` is derived from its delivery id. Both are unique per (update,
  subscriber) and the same on a retry.
- RFC 8058 one-click unsubscribe: `List-Unsubscribe` carries the per-recipient
  one-click URL (https in AWS), with `List-Unsubscribe-Post`.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from status_fanout.delivery.events import EventSnapshot
from status_fanout.incidents.lifecycle import status_labels
from status_fanout.maintenance.window import event_window, is_maintenance
from status_fanout.publishing import feeds
from status_fanout.publishing.presentation import COMPONENT_STATUS_LABELS, long_time
from status_fanout.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"

# Two policies, both with SMTP line endings. A message is built under
# BODY_POLICY: the content manager quoted-printable-encodes each body when it
# is set, wrapping at the policy's max_line_length, and RFC 2045 §6.7 caps an
# encoded line at 76 characters. It is serialised under WIRE_POLICY, which
# folds headers at RFC 5322's 998, so a long one-click URL stays one header
# line instead of being folded into encoded words.
BODY_POLICY = email.policy.SMTP.clone(max_line_length=76)
WIRE_POLICY = email.policy.SMTP.clone(max_line_length=998)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
SUBJECT_MAX = 200


def header_text(value: str, limit: int = SUBJECT_MAX) -> str:
    """Text safe for a header: no control characters (so no CR/LF), one line, bounded."""
    text = " ".join(_UNSAFE.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Escaping for .html only; the text part is text.
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False,
        keep_trailing_newline=True,
    )
    env.filters["text_html"] = lambda text: Markup(feeds.text_html(text))  # noqa: S704 - escapes its input
    return env


def _render(name: str, **context: Any) -> str:
    return _environment().get_template(name).render(**context)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() or "localhost"


def thread_root_update(incident: Mapping[str, Any]) -> str | None:
    """The id of the incident's first notifying update, whose mail roots the
    incident's thread; None if no update has notified (a postmortem mail is
    then the first). First by creation time, so a correction of an update's
    display time never moves the root; display order breaks a tie."""
    oldest_first = list(reversed(incident.get("incident_updates") or []))  # public JSON: newest first
    notifying = [u for u in oldest_first if u.get("deliver_notifications")]
    if not notifying:
        return None
    return str(min(notifying, key=lambda u: str(u.get("created_at") or ""))["id"])


def thread_root_id(incident_id: str, root_update_id: str | None, subscriber_id: str, sender: str) -> str:
    """The Message-ID of the incident's first mail to one subscriber: derived, not
    stored, so each later mail can name it."""
    key = f"thread\x00{incident_id}\x00{root_update_id or 'postmortem'}\x00{subscriber_id}"
    digest = base64.b32encode(hashlib.sha256(key.encode()).digest()).decode().rstrip("=").lower()
    return f"<thread.{digest[:26]}@{domain_of(sender)}>"


def threading(event: EventSnapshot, message_id: str, subscriber_id: str, sender: str) -> tuple[str, str | None]:
    """This mail's Message-ID and the root it replies to (None: it is the root,
    or not part of an incident)."""
    if not event.incident_id:
        return message_id, None
    first = thread_root_update(event.incident or {})
    root = thread_root_id(event.incident_id, first, subscriber_id, sender)
    if first is None or (event.update or {}).get("id") == first:
        return root, None
    return message_id, root


def _envelope(settings: Settings, to: str, subject: str, message_id: str, now: datetime) -> EmailMessage:
    message = EmailMessage(policy=BODY_POLICY)
    message["From"] = Address(display_name=header_text(f"{settings.page.name} Status", 100),
                              addr_spec=settings.email.sender_address)
    message["To"] = Address(addr_spec=to)
    message["Subject"] = header_text(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    return message


def _alternative(message: EmailMessage, text: str, html: str) -> bytes:
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes(policy=WIRE_POLICY)


@dataclass(frozen=True)
class Line:
    label: str
    at: str
    body: str


def subject_of(settings: Settings, event: EventSnapshot, component_names: Mapping[str, str]) -> str:
    if event.incident is not None and event.update is not None:
        return f"[{settings.page.name}] {event.incident.get('name', '')} — {event.update.get('label', '')}"
    component = event.component or {}
    new = (event.component_update or {}).get("new_status", "")
    return f"[{settings.page.name}] {component.get('name', '')} — {COMPONENT_STATUS_LABELS.get(new, new)}"


# Stand-ins for one subscriber's links while an event's mail is rendered once
# for a whole batch; characters that neither HTML nor the text escape.
MANAGE_LINK = "https://links.status-fanout.invalid/manage"
UNSUBSCRIBE_LINK = "https://links.status-fanout.invalid/unsubscribe"


@dataclass(frozen=True)
class RenderedUpdate:
    """An event's mail rendered once (text and HTML), with stand-ins for each
    subscriber's links; `update_message` fills them in per subscriber."""

    subject: str
    text: str
    html: str


def render_update(settings: Settings, event: EventSnapshot, subscribed_to: Sequence[str]) -> RenderedUpdate:
    """The parts of an incident update's (or postmortem's, or maintenance
    update's, or component change's) mail that every subscriber with these
    components gets alike."""
    tz = feeds.zone(settings.page.time_zone)
    subject = header_text(subject_of(settings, event, {}))
    context: dict[str, Any] = {
        "subject": subject, "page_name": settings.page.name, "page_url": settings.page.url,
        "manage_url": MANAGE_LINK, "unsubscribe_url": UNSUBSCRIBE_LINK, "subscribed_to": list(subscribed_to),
        "incident": event.incident is not None and event.update is not None,
    }
    if event.incident is not None and event.update is not None:
        incident, update = event.incident, event.update
        updates = list(incident.get("incident_updates") or [])
        # The status page's labels, frozen with the event (a maintenance's are its
        # steps'); a snapshot from before they were frozen has only the statuses.
        labels = event.labels or status_labels((str(u.get("id")), str(u.get("status", ""))) for u in sorted(
            updates, key=lambda u: u.get("display_at") or u.get("created_at") or ""))
        current_id = update.get("id")
        when = update.get("display_at") or update.get("created_at") or event.occurred_at
        maintenance = is_maintenance(incident)
        context.update(
            incident_name=incident.get("name", ""),
            current=Line(str(update.get("label", "")), long_time(when, tz), str(update.get("body") or "")),
            earlier=[Line(labels.get(str(u.get("id")), ""), long_time(u.get("display_at") or u["created_at"], tz),
                          str(u.get("body") or ""))
                     for u in updates if u.get("id") != current_id],
            affected=[str(c.get("name", "")) for c in incident.get("components") or []],
            incident_url=str(incident.get("shortlink")
                             or f"{settings.page.url}/incidents/{incident.get('id', event.incident_id)}"),
            kind="maintenance" if maintenance else "incident",
            # A maintenance's window, in the page's zone; a cancelled one says so.
            window=event_window(incident, tz), cancelled=maintenance and bool(incident.get("cancelled_at")),
        )
    else:
        component, change = event.component or {}, event.component_update or {}
        context.update(
            component_name=component.get("name", ""),
            old_status=COMPONENT_STATUS_LABELS.get(change.get("old_status", ""), change.get("old_status", "")),
            new_status=COMPONENT_STATUS_LABELS.get(change.get("new_status", ""), change.get("new_status", "")),
            at=long_time(event.occurred_at, tz),
        )
    return RenderedUpdate(subject, _render("email_update.txt", **context), _render("email_update.html", **context))


def update_message(settings: Settings, event: EventSnapshot, *, to: str, subscriber_id: str, message_id: str,
                   unsubscribe_url: str, manage_url: str, subscribed_to: Sequence[str], now: datetime,
                   rendered: RenderedUpdate | None = None) -> bytes:
    """One incident update (or postmortem, or component change) for one subscriber;
    `rendered` is the event's `render_update` for these components, when the
    caller already has it (a batch renders each event once).

    `message_id` is this mail's own id unless it is the first of its incident,
    which gets the thread's root id instead (`threading`)."""
    rendered = rendered or render_update(settings, event, subscribed_to)
    links = {MANAGE_LINK: manage_url, UNSUBSCRIBE_LINK: unsubscribe_url}
    text, html = rendered.text, rendered.html
    for stand_in, link in links.items():
        text, html = text.replace(stand_in, link), html.replace(stand_in, str(escape(link)))
    own_id, root = threading(event, message_id, subscriber_id, settings.email.sender_address)
    message = _envelope(settings, to, rendered.subject, own_id, now)
    if root is not None:
        message["In-Reply-To"] = root
        message["References"] = root
    message["List-Id"] = f"{header_text(settings.page.name, 100)} status <{settings.page.effective_id}.status." \
                         f"{domain_of(settings.email.sender_address)}>"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return _alternative(message, text, html)


def confirm_message(settings: Settings, *, to: str, message_id: str, confirm_url: str,
                    subscribed_to: Sequence[str], now: datetime) -> bytes:
    """The double opt-in mail: its own template, one link to the confirm page."""
    subject = header_text(f"[{settings.page.name}] Confirm your subscription")
    context = {"subject": subject, "page_name": settings.page.name, "email": to, "confirm_url": confirm_url,
               "subscribed_to": list(subscribed_to)}
    message = _envelope(settings, to, subject, message_id, now)
    return _alternative(message, _render("email_confirm.txt", **context), _render("email_confirm.html", **context))
