"""What the public renderings share: how components are grouped on a page,
the words for their statuses and the page's time format.

The status page, the v2 JSON, the feeds, the mails and the chat messages show
the same page, so they read its order, its groups and its labels from here
(free of Jinja2, so the senders do not load it for a label).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo

from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.publishing.feeds import local_time

COMPONENT_STATUS_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded Performance",
    "partial_outage": "Partial Outage",
    "major_outage": "Major Outage",
    "under_maintenance": "Under Maintenance",
}
IMPACT_LABELS = {"none": "No impact", "minor": "Minor impact", "major": "Major impact", "critical": "Critical impact",
                 "maintenance": "Scheduled maintenance"}

# Least to most severe: a group shows its worst member's status.
STATUS_SEVERITY = ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]


@dataclass(frozen=True)
class Group:
    name: str | None  # None: components outside any group
    status: str
    members: list[Component]


def grouped(components: Iterable[Component]) -> list[Group]:
    """Page order (position, name, id); a group sits where its first member does."""
    ordered = sorted(components, key=lambda c: (c.position, c.name, c.id))
    result: list[Group] = []
    index: dict[str, Group] = {}
    for component in ordered:
        if component.group is None:
            if result and result[-1].name is None:
                result[-1].members.append(component)
            else:
                result.append(Group(None, "operational", [component]))
        elif component.group in index:
            index[component.group].members.append(component)
        else:
            index[component.group] = Group(component.group, "operational", [component])
            result.append(index[component.group])
    return [
        Group(g.name, max((m.status for m in g.members), key=STATUS_SEVERITY.index), g.members) for g in result
    ]


def long_time(ts: str, tz: tzinfo) -> str:
    """The page's time format: ``Aug 30, 2018 - 18:18 EDT``."""
    when = local_time(ts, tz)
    return f"{when:%b} {when.day}, {when.year} - {when:%H:%M} {when:%Z}"


def affected_names(incident: Incident, updates: Iterable[IncidentUpdate], components: Mapping[str, Component]
                   ) -> list[str]:
    """The names of the components an incident or maintenance involves: as they
    are now, or as its updates recorded them if a component is gone."""
    recorded = {a.code: a.name for u in updates for a in u.affected_components or []}
    return [components[c].name if c in components else recorded.get(c, c) for c in incident.component_ids]
