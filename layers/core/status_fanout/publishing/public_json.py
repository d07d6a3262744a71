"""Statuspage v2 public JSON shapes (summary, status, components, incidents,
scheduled maintenances), built from the domain models. Pure: same state in,
same bytes out."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from status_fanout.incidents.lifecycle import IMPACT_ORDER, display_order
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.publishing.presentation import grouped
from status_fanout.settings import Settings

COMPONENT_INDICATOR = {"degraded_performance": "minor", "partial_outage": "major", "major_outage": "critical"}
INDICATOR_DESCRIPTION = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}

# A maintenance under way: Statuspage's "active" (/scheduled-maintenances/active.json).
ACTIVE_MAINTENANCE = ("in_progress", "verifying")


# Characters that could make a JSON body look like HTML to a sniffing client.
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON with <, > and & escaped (they only occur inside strings)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).translate(_HTML_SAFE).encode()


def group_id(group: str) -> str:
    return "group-" + (re.sub(r"[^a-z0-9]+", "-", group.lower()).strip("-") or "unnamed")


def page_object(settings: Settings, updated_at: str | None) -> dict[str, Any]:
    return {
        "id": settings.page.effective_id,
        "name": settings.page.name,
        "url": settings.page.url,
        "time_zone": settings.page.time_zone,
        "updated_at": updated_at,
    }


def component_object(component: Component, page_id: str) -> dict[str, Any]:
    return {
        "id": component.id,
        "name": component.name,
        "status": component.status,
        "created_at": component.created_at,
        "updated_at": component.updated_at,
        "position": component.position,
        "description": component.description,
        "showcase": False,
        "start_date": None,
        "group_id": group_id(component.group) if component.group else None,
        "page_id": page_id,
        "group": False,
        "only_show_if_degraded": False,
    }


def component_objects(components: Iterable[Component], page_id: str) -> list[dict[str, Any]]:
    """Components in page order, each group synthesised as a Statuspage group
    component (status = its worst member) placed before its members."""
    result: list[dict[str, Any]] = []
    for group in grouped(components):
        if group.name is not None:
            result.append({
                "id": group_id(group.name),
                "name": group.name,
                "status": group.status,
                "created_at": min(m.created_at for m in group.members),
                "updated_at": max(m.updated_at for m in group.members),
                "position": group.members[0].position,
                "description": None,
                "showcase": False,
                "start_date": None,
                "group_id": None,
                "page_id": page_id,
                "group": True,
                "only_show_if_degraded": False,
                "components": [m.id for m in group.members],
            })
        result.extend(component_object(member, page_id) for member in group.members)
    return result


def update_object(update: IncidentUpdate) -> dict[str, Any]:
    return {
        "id": update.id,
        "status": update.status,
        "body": update.body,
        "incident_id": update.incident_id,
        "created_at": update.created_at,
        "updated_at": update.updated_at,
        "display_at": update.display_at,
        "affected_components": (
            [a.model_dump() for a in update.affected_components] if update.affected_components else None
        ),
        "deliver_notifications": update.deliver_notifications,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident_object(
    incident: Incident,
    updates: Iterable[IncidentUpdate],
    components: Mapping[str, Component],
    settings: Settings,
) -> dict[str, Any]:
    page_id = settings.page.effective_id
    return {
        "id": incident.id,
        "name": incident.name,
        "status": incident.status,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
        "monitoring_at": incident.monitoring_at,
        "resolved_at": incident.resolved_at,
        "impact": incident.impact,
        "shortlink": f"{settings.page.url}/incidents/{incident.id}",
        "started_at": incident.started_at,
        "page_id": page_id,
        "incident_updates": [update_object(u) for u in reversed(display_order(updates))],
        "components": [component_object(components[c], page_id) for c in incident.component_ids if c in components],
        "postmortem_body": incident.postmortem_body,
        "postmortem_body_last_updated_at": incident.postmortem_updated_at,
        "postmortem_published_at": incident.postmortem_published_at,
    }


def maintenance_object(
    maintenance: Incident,
    updates: Iterable[IncidentUpdate],
    components: Mapping[str, Component],
    settings: Settings,
    full: bool = False,
) -> dict[str, Any]:
    """Statuspage's scheduled-maintenance object: its key set is the one of
    /api/v2/scheduled-maintenances.json (data/statuspage-maintenance/).
    `full` adds the clock's fields, as webhook bodies and the staff API carry them."""
    document = incident_object(maintenance, updates, components, settings)
    for key in ("postmortem_body", "postmortem_body_last_updated_at", "postmortem_published_at"):
        del document[key]
    document["scheduled_for"] = maintenance.scheduled_for
    document["scheduled_until"] = maintenance.scheduled_until
    if full:
        document.update(
            scheduled_remind_prior=maintenance.scheduled_remind_prior,
            scheduled_reminded_at=maintenance.scheduled_reminded_at,
            scheduled_auto_in_progress=maintenance.scheduled_auto_in_progress,
            scheduled_auto_completed=maintenance.scheduled_auto_completed,
            cancelled_at=maintenance.cancelled_at,
        )
    return document


def is_upcoming(maintenance: Incident) -> bool:
    """Statuspage's "upcoming": still `scheduled`. A cancelled one reads
    `completed` (Statuspage has no cancelled status) and is never upcoming."""
    return maintenance.status == "scheduled" and maintenance.cancelled_at is None


def is_active(maintenance: Incident) -> bool:
    """Statuspage's "active": `in_progress` or `verifying`."""
    return maintenance.status in ACTIVE_MAINTENANCE and maintenance.cancelled_at is None


def soonest_first(maintenances: Iterable[tuple[Incident, list[IncidentUpdate]]]
                  ) -> list[tuple[Incident, list[IncidentUpdate]]]:
    """The order of summary.json's `scheduled_maintenances` (githubstatus.com's
    summary lists two upcoming ones soonest first), and of upcoming/active.json."""
    return sorted(maintenances, key=lambda pair: (pair[0].scheduled_for or "", pair[0].id))


def latest_scheduled_first(maintenances: Iterable[tuple[Incident, list[IncidentUpdate]]]
                           ) -> list[tuple[Incident, list[IncidentUpdate]]]:
    """The order of scheduled-maintenances.json: the latest scheduled first."""
    return sorted(maintenances, key=lambda pair: (pair[0].scheduled_for or "", pair[0].id), reverse=True)


def status_object(components: Iterable[Component], unresolved: Iterable[Incident],
                  maintenances: Iterable[Incident] = ()) -> dict[str, str]:
    """The page's indicator: the worst of the components and the open incidents;
    `maintenance` when nothing is worse and a component is under maintenance or
    a maintenance is active (one with no components still says so)."""
    levels: list[str] = list(IMPACT_ORDER)
    worst = 0
    maintenance = any(is_active(m) for m in maintenances)
    for component in components:
        if component.status == "under_maintenance":
            maintenance = True
        worst = max(worst, levels.index(COMPONENT_INDICATOR.get(component.status, "none")))
    for incident in unresolved:
        worst = max(worst, levels.index(incident.impact))
    indicator = levels[worst]
    if indicator == "none" and maintenance:
        indicator = "maintenance"
    return {"indicator": indicator, "description": INDICATOR_DESCRIPTION[indicator]}
