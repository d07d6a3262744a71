"""What every chat message says, whichever app shows it: built once per event
from its frozen snapshot, then laid out by each format's module.

Everything here is the user's raw text; each format escapes it for itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from status_fanout.delivery.events import EventSnapshot
from status_fanout.maintenance.window import event_window, is_maintenance
from status_fanout.publishing.feeds import zone
from status_fanout.publishing.presentation import COMPONENT_STATUS_LABELS, long_time

# Statuspage's own colours for the page's states; chat apps that colour a
# message (Teams, Discord; Slack and Google Chat through an emoji) use them.
COLOURS = {
    "resolved": 0x2FCC66,     # operational green
    "none": 0x7F8C8D,         # no impact: grey
    "minor": 0xF1C40F,        # yellow
    "major": 0xE67E22,        # orange
    "critical": 0xE74C3C,     # red
    "maintenance": 0x3498DB,  # blue
}
# What each app calls a maintenance's window beside it.
WINDOW_LABEL = "Maintenance window"
MARKERS = {"resolved": "🟢", "none": "⚪", "minor": "🟡", "major": "🟠", "critical": "🔴", "maintenance": "🔵"}
COMPONENT_SEVERITY = {
    "operational": "resolved", "under_maintenance": "maintenance", "degraded_performance": "minor",
    "partial_outage": "major", "major_outage": "critical",
}


@dataclass(frozen=True)
class ChatMessage:
    page_name: str
    title: str             # the incident's (or maintenance's, or component's) name
    label: str             # the status label, as the feeds show it: "Investigating", "Resolved", ...;
                           # a maintenance's step's: "Scheduled", "Reminder", "In progress", ...
    body: str              # the update's text
    components: tuple[tuple[str, str], ...]  # (name, status label) of what it affects
    when: str              # in the page's time zone: "Aug 30, 2018 - 18:18 EDT"
    timestamp: str         # the same instant, ISO 8601 UTC
    link: str              # the incident's (or maintenance's) page (the status page for a component change)
    link_text: str
    severity: str          # a key of COLOURS
    # A maintenance's window in the page's time zone ("Dec 3, 2026 - 02:00 – 04:00 EST"); "" otherwise.
    window: str = ""

    @property
    def colour(self) -> int:
        return COLOURS[self.severity]

    @property
    def marker(self) -> str:
        return MARKERS[self.severity]

    @property
    def summary(self) -> str:
        """One line for notifications and previews; a maintenance's names its window."""
        line = f"{self.page_name}: {self.title} — {self.label}"
        return f"{line} ({self.window})" if self.window else line


TEST_BODY = ("This is a test message from status-fanout. This chat will get {page}'s incident updates, "
             "component changes and maintenance notices here.")


def chat_message(event: EventSnapshot) -> ChatMessage:
    page = event.page
    page_name, page_url = str(page.get("name") or "Status"), str(page.get("url") or "").rstrip("/")
    tz = zone(str(page.get("time_zone") or "Etc/UTC"))
    if event.incident is not None and event.update is not None:
        incident, update = event.incident, event.update
        at = str(update.get("display_at") or update.get("created_at") or event.occurred_at)
        maintenance = is_maintenance(incident)
        # A maintenance is blue at every step, as the status page shows one (its
        # impact is "maintenance"); an incident is green once resolved.
        severity = "resolved" if incident.get("status") == "resolved" else str(incident.get("impact") or "none")
        link = str(incident.get("shortlink") or f"{page_url}/incidents/{incident.get('id', event.incident_id)}")
        return ChatMessage(
            page_name=page_name, title=str(incident.get("name") or ""), label=str(update.get("label") or ""),
            body=str(update.get("body") or ""), components=_incident_components(incident, update),
            when=long_time(at, tz), timestamp=at, link=link,
            link_text="View maintenance" if maintenance else "View incident",
            severity=severity if severity in COLOURS else "none", window=event_window(incident, tz),
        )
    if event.type == "component.updated":
        component, change = event.component or {}, event.component_update or {}
        old, new = str(change.get("old_status") or ""), str(change.get("new_status") or "")
        name = str(component.get("name") or "")
        return ChatMessage(
            page_name=page_name, title=name, label=_status_label(new),
            body=f"{name} changed from {_status_label(old)} to {_status_label(new)}.",
            components=(), when=long_time(event.occurred_at, tz),
            timestamp=event.occurred_at, link=page_url or "", link_text="View status page",
            severity=COMPONENT_SEVERITY.get(new, "none"),
        )
    return ChatMessage(
        page_name=page_name, title="Test message", label="Test", body=TEST_BODY.format(page=page_name),
        components=(), when=long_time(event.occurred_at, tz), timestamp=event.occurred_at, link=page_url or "",
        link_text="View status page", severity="resolved",
    )


def _status_label(status: str) -> str:
    return COMPONENT_STATUS_LABELS.get(status, status)


def _incident_components(incident: Mapping[str, Any], update: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """What this update set each component to; the incident's components as
    they stand for an update (or postmortem) that changed none."""
    changed = update.get("affected_components") or []
    if changed:
        return tuple((str(c.get("name") or ""), _status_label(str(c.get("new_status") or ""))) for c in changed)
    return tuple((str(c.get("name") or ""), _status_label(str(c.get("status") or "")))
                 for c in incident.get("components") or [])
