"""What the staff API shows beyond the public objects: who opened an incident
or maintenance and who posted each update (`created_by`). Added to the
Statuspage-shaped document only here, so the public surface (JSON, feeds,
pages) and the webhook and email bodies, built from the same objects, never carry it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from status_fanout.incidents.models import Incident, IncidentUpdate


def with_created_by(document: dict[str, Any], head: Incident, updates: Iterable[IncidentUpdate]) -> dict[str, Any]:
    by_id = {u.id: u.created_by for u in updates}
    for shown in document.get("incident_updates") or []:
        shown["created_by"] = by_id.get(shown["id"])
    document["created_by"] = head.created_by
    return document
