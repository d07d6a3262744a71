"""The logic layer the API routes call: read, apply the lifecycle rules, write
conditionally, and retry when a concurrent writer got there first."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar

from status_fanout.audit import current_actor
from status_fanout.dynamo import retry_conflicts
from status_fanout.errors import InvalidFieldError, NotFoundError
from status_fanout.incidents import lifecycle
from status_fanout.incidents.models import (
    Component,
    ComponentPatch,
    ComponentPut,
    Incident,
    IncidentCreate,
    IncidentUpdate,
    PostmortemPut,
    UpdateCorrect,
    UpdateCreate,
)
from status_fanout.incidents.store import IncidentStore
from status_fanout.timefmt import format_ts, truncate_ms, utcnow

T = TypeVar("T")
IncidentWithUpdates = tuple[Incident, list[IncidentUpdate]]
# How long one request keeps retrying a contended incident: a burst of posts
# to one incident (an all-hands outage) must land, inside API Gateway's 29 s
# limit and the function's 30 s timeout. Backoff is full jitter, capped so a
# loser retries promptly. (12 writers at once on a loaded CI machine needed
# more than 10 s.)
def check_components(store: IncidentStore, components: list[str]) -> None:
    """Refuse a choice of components (a webhook endpoint's, an email
    subscriber's) that names one that does not exist: 422 naming it."""
    known = {c.id for c in store.list_components()} if components else set()
    for component_id in components:
        if component_id not in known:
            raise InvalidFieldError(f"components.{component_id}", "unknown component")


def _with_retries(write: Callable[[], T]) -> T:
    """Concurrent posts to one incident serialise on the head item's version."""
    return retry_conflicts(write, "the incident")


class StatusService:
    def __init__(self, store: IncidentStore, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    # --- components --------------------------------------------------------

    def list_components(self) -> list[Component]:
        return self.store.list_components()

    def put_component(self, component_id: str, request: ComponentPut) -> tuple[Component, bool]:
        def write() -> tuple[Component, bool]:
            now = format_ts(truncate_ms(self.clock()))
            loaded = self.store.load_components()
            existing, version = loaded.get(component_id, (None, 0))
            position = request.position
            if position is None:
                position = existing.position if existing else len(loaded) + 1
            component = Component(
                id=component_id, name=request.name, group=request.group, description=request.description,
                status=request.status, position=position,
                created_at=existing.created_at if existing else now, updated_at=now,
            )
            moved = existing is None or existing.status != component.status
            self.store.save_component(component, version, changed_by=None, history_source="put" if moved else None)
            return component, existing is None

        return _with_retries(write)

    def patch_component(self, component_id: str, request: ComponentPatch) -> Component:
        def write() -> Component:
            loaded = self.store.load_components()
            if component_id not in loaded:
                raise NotFoundError(f"no component {component_id}")
            existing, version = loaded[component_id]
            if existing.status == request.status:
                return existing
            now = format_ts(truncate_ms(self.clock()))
            component = existing.model_copy(update={"status": request.status, "updated_at": now})
            self.store.save_component(component, version, changed_by="patch", history_source="patch")
            return component

        return _with_retries(write)

    # --- incidents ---------------------------------------------------------

    def get_incident(self, incident_id: str) -> tuple[Incident, list[IncidentUpdate]]:
        loaded = self.store.load_incident(incident_id)
        if loaded is None:
            raise NotFoundError(f"no incident {incident_id}")
        return loaded

    def _component_writes(
        self, update: IncidentUpdate, components: dict[str, Component], versions: dict[str, int]
    ) -> list[tuple[Component, int]]:
        if update.backfilled or not update.affected_components:
            return []
        writes = []
        for affected in update.affected_components:
            current = components[affected.code]
            if current.status != affected.new_status:
                changed = current.model_copy(update={"status": affected.new_status, "updated_at": update.created_at})
                writes.append((changed, versions[affected.code]))
        return writes

    def create_incident(self, request: IncidentCreate) -> tuple[Incident, list[IncidentUpdate]]:
        def write() -> tuple[Incident, list[IncidentUpdate]]:
            components, versions = self._components_for(request.components)
            incident, update = lifecycle.open_incident(
                name=request.name, status=request.status, body=request.body, impact=request.impact,
                requested_components=request.components, notify=request.notify,
                display_at=request.display_at, components=components, now=self.clock(),
            )
            actor = current_actor()
            incident = incident.model_copy(update={"created_by": actor})
            update = update.model_copy(update={"incident_version": 1, "created_by": actor})
            self.store.save_incident_change(
                incident, 0, new_update=update, components=self._component_writes(update, components, versions)
            )
            return incident.model_copy(update={"version": 1}), [update]

        return _with_retries(write)

    def add_update(self, incident_id: str, request: UpdateCreate) -> tuple[Incident, list[IncidentUpdate]]:
        def write() -> tuple[Incident, list[IncidentUpdate]]:
            incident, updates = self.get_incident(incident_id)
            components, versions = self._components_for(request.components)
            changed, update = lifecycle.add_update(
                incident, updates, status=request.status, body=request.body, impact=request.impact,
                requested_components=request.components, notify=request.notify,
                display_at=request.display_at, components=components, now=self.clock(),
            )
            update = update.model_copy(update={"incident_version": incident.version + 1,
                                               "created_by": current_actor()})
            self.store.save_incident_change(
                changed, incident.version, new_update=update,
                components=self._component_writes(update, components, versions),
            )
            return changed.model_copy(update={"version": incident.version + 1}), [*updates, update]

        return _with_retries(write)

    def correct_update(
        self, incident_id: str, update_id: str, request: UpdateCorrect
    ) -> tuple[Incident, list[IncidentUpdate]]:
        def write() -> tuple[Incident, list[IncidentUpdate]]:
            incident, updates = self.get_incident(incident_id)
            changed, corrected = lifecycle.correct_update(
                incident, updates, update_id, body=request.body, display_at=request.display_at, now=self.clock()
            )
            original = next(u for u in updates if u.id == update_id)
            self.store.save_incident_change(changed, incident.version, changed_update=corrected,
                                            corrected_from=original)
            rest = [corrected if u.id == update_id else u for u in updates]
            return changed.model_copy(update={"version": incident.version + 1}), rest

        return _with_retries(write)

    def publish_postmortem(self, incident_id: str, request: PostmortemPut) -> tuple[Incident, list[IncidentUpdate]]:
        def write() -> tuple[Incident, list[IncidentUpdate]]:
            incident, updates = self.get_incident(incident_id)
            changed = lifecycle.publish_postmortem(
                incident, body=request.body, notify=request.notify, display_at=request.display_at, now=self.clock()
            )
            self.store.save_incident_change(changed, incident.version)
            return changed.model_copy(update={"version": incident.version + 1}), updates

        return _with_retries(write)

    def list_incidents(self, limit: int, cursor: str | None) -> tuple[list[IncidentWithUpdates], str | None]:
        heads, next_cursor = self.store.list_incidents(limit, cursor)
        result = []
        for head in heads:
            loaded = self.store.load_incident(head.id)
            if loaded is not None:
                result.append(loaded)
        return result, next_cursor

    def _components_for(self, requested: Mapping[str, str] | None) -> tuple[dict[str, Component], dict[str, int]]:
        if not requested:
            return {}, {}
        loaded = self.store.load_components()
        return {k: c for k, (c, _) in loaded.items()}, {k: v for k, (_, v) in loaded.items()}
