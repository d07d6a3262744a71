"""The events the chat tests send: the real seed incident as the planner
snapshots it, every step of two real maintenances (tests/unit/delivery/
maintenance_events.py), a component change, a `webhook.test` ping, and the
same seed update (or maintenance update) with its text, name or components
replaced (hostile or as large as the API accepts)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from status_fanout.chat import formats
from status_fanout.delivery.events import EventSnapshot
from status_fanout.incidents.models import MAX_BODY, MAX_COMPONENTS_PER_REQUEST, MAX_NAME
from status_fanout.webhooks import service
from status_fanout.webhooks.channel import encode
from tests.unit.delivery.maintenance_events import maintenance_events
from tests.unit.email.test_messages import SETTINGS, component_event, seed_events

FORMATS = list(formats.CHAT_FORMATS)
HOSTILE = ("@everyone @here <!channel> <!here> <@U123> <at>Bob</at> [click](https://evil.example) "
           "<script>alert(1)</script> **bold** <users/all>")
WORDS = ("status", "mail", "relay", "queue", "restart", "we", "are", "monitoring", "the", "instances")


@cache
def _every_event() -> tuple[tuple[str, EventSnapshot], ...]:
    seed = seed_events()
    events = [(f"{e.type} #{n} ({(e.update or {}).get('label')})", e) for n, e in enumerate(seed)]
    events.extend((f"{e.type} of {(e.incident or {}).get('name')} ({(e.update or {}).get('label')})", e)
                  for e in maintenance_events())
    events.append(("component.updated", component_event()))
    events.append(("webhook.test", ping_event()))
    return tuple(events)


def every_event() -> dict[str, EventSnapshot]:
    """Every kind of event a chat endpoint is sent, by a readable name."""
    return dict(_every_event())


def event_named(prefix: str) -> EventSnapshot:
    return next(event for name, event in _every_event() if name.startswith(prefix))


def ping_event() -> EventSnapshot:
    return service.test_event(SETTINGS, "wh_01", {"indicator": "none", "description": "All Systems Operational"})


def first_update() -> EventSnapshot:
    """The seed's first update: critical impact, four components in major outage."""
    return seed_events()[0]


def update_with(body: str | None = None, name: str | None = None, components: list[str] | None = None,
                base: EventSnapshot | None = None) -> EventSnapshot:
    """The seed's first update with its text, the incident's name or its components replaced."""
    base = base or first_update()
    update: dict[str, Any] = dict(base.update or {})
    incident: dict[str, Any] = dict(base.incident or {})
    if body is not None:
        update["body"] = body
    if name is not None:
        incident["name"] = name
    if components is not None:
        update["affected_components"] = [
            {"code": f"c-{n}", "name": component, "old_status": "operational", "new_status": "major_outage"}
            for n, component in enumerate(components)]
    return base.model_copy(update={"update": update, "incident": incident})


def words(length: int = MAX_BODY) -> str:
    """Ordinary prose of exactly `length` characters (the last word may be cut)."""
    text: list[str] = []
    n = 0
    while n < length:
        word = WORDS[len(text) % len(WORDS)]
        text.append(word)
        n += len(word) + 1
    return " ".join(text)[:length]


def largest_update(char: str = "服", base: EventSnapshot | None = None) -> EventSnapshot:
    """As large as the API takes: a 20,000-character text, a 255-character name and 97
    components of 255-character names, all of `char` (a multi-byte one by default);
    the seed's first update, or `base`'s."""
    return update_with(body=char * MAX_BODY, name=char * MAX_NAME,
                       components=[(char * MAX_NAME)[: MAX_NAME - 3] + f"{n:03}"
                                   for n in range(MAX_COMPONENTS_PER_REQUEST)], base=base)


def largest_maintenance_update(char: str = "服") -> EventSnapshot:
    """A maintenance's update as large as the API takes: its window takes room too."""
    scheduled = next(e for e in maintenance_events() if e.type == "maintenance.scheduled")
    return largest_update(char, base=scheduled)


def message(body_format: str, event: EventSnapshot) -> dict[str, Any]:
    """The body as the channel sends it: built, then encoded and read back."""
    loaded: dict[str, Any] = json.loads(encode(formats.body(body_format, event)))
    return loaded


def wire_size(document: Any) -> int:
    """Bytes on the wire, encoded exactly as the webhook channel sends it."""
    return len(encode(document))


def strings(document: Any) -> list[str]:
    """Every string anywhere in a JSON document."""
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        return [s for value in document.values() for s in strings(value)]
    if isinstance(document, list):
        return [s for value in document for s in strings(value)]
    return []
