"""The logic layer of the maintenance routes and of the clock: read, apply the
lifecycle rules, write conditionally (retrying a concurrent writer), then make
the clock's schedules match what was written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from status_fanout.audit import current_actor
from status_fanout.dynamo import retry_conflicts
from status_fanout.errors import NotFoundError
from status_fanout.incidents.models import (
    Component,
    Incident,
    IncidentUpdate,
    MaintenanceCancel,
    MaintenanceCreate,
    MaintenancePatch,
    MaintenanceUpdateCreate,
)
from status_fanout.incidents.store import IncidentStore
from status_fanout.maintenance import lifecycle
from status_fanout.maintenance.schedules import MaintenanceSchedules
from status_fanout.observability import logger
from status_fanout.publishing.feeds import zone
from status_fanout.settings import Settings
from status_fanout.timefmt import utcnow

Maintenance = tuple[Incident, list[IncidentUpdate]]
ACTIVE = ("in_progress", "verifying")


class MaintenanceService:
    def __init__(self, store: IncidentStore, settings: Settings, schedules: MaintenanceSchedules | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.settings = settings
        self.lead = settings.maintenance.reminder_lead
        self.schedules = schedules or MaintenanceSchedules(settings)
        self.clock = clock

    # --- reads ------------------------------------------------------------------------

    def get(self, maintenance_id: str) -> Maintenance:
        loaded = self.store.load_incident(maintenance_id)
        if loaded is None or not loaded[0].is_maintenance:
            raise NotFoundError(f"no maintenance {maintenance_id}")
        return loaded

    def list_maintenances(self, status: str | None, limit: int, cursor: str | None
                          ) -> tuple[list[Maintenance], str | None]:
        """Latest scheduled first; `upcoming` and `active` read the small open set."""
        if status in ("upcoming", "active"):
            wanted = ("scheduled",) if status == "upcoming" else ACTIVE
            heads = [h for h in self.store.list_open_maintenances() if h.status in wanted][:limit]
            next_cursor = None
        else:
            heads, next_cursor = self.store.list_maintenances(limit, cursor)
            if status == "completed":
                heads = [h for h in heads if h.status == "completed"]
        return [loaded for head in heads if (loaded := self.store.load_incident(head.id))], next_cursor

    def components(self) -> dict[str, Component]:
        return {c.id: c for c in self.store.list_components()}

    # --- writes -----------------------------------------------------------------------

    def create(self, request: MaintenanceCreate) -> Maintenance:
        def write() -> Maintenance:
            components = self.components()
            incident, update = lifecycle.schedule(
                name=request.name, body=request.body, scheduled_for=request.scheduled_for,
                scheduled_until=request.scheduled_until, component_ids=request.components, components=components,
                notify=request.notify, remind_prior=request.remind_prior, auto_in_progress=request.auto_in_progress,
                auto_completed=request.auto_completed, display_at=request.display_at, now=self.clock(),
                reminder_lead=self.lead)
            actor = current_actor()
            incident = incident.model_copy(update={"created_by": actor})
            update = update.model_copy(update={"incident_version": 1, "created_by": actor})
            self.store.save_incident_change(incident, 0, new_update=update)
            return incident.model_copy(update={"version": 1}), [update]

        created = retry_conflicts(write, "the maintenance")
        self.schedules.plan(created[0])
        return created

    def add_update(self, maintenance_id: str, request: MaintenanceUpdateCreate) -> Maintenance:
        return self._change(maintenance_id, lambda incident, updates, components: lifecycle.add_update(
            incident, updates, status=request.status, body=request.body, notify=request.notify,
            display_at=request.display_at, components=components, now=self.clock()))

    def reschedule(self, maintenance_id: str, request: MaintenancePatch) -> Maintenance:
        return self._change(maintenance_id, lambda incident, updates, components: lifecycle.reschedule(
            incident, updates, name=request.name, scheduled_for=request.scheduled_for,
            scheduled_until=request.scheduled_until, body=request.body, notify=request.notify, now=self.clock(),
            reminder_lead=self.lead, tz=zone(self.settings.page.time_zone)))

    def cancel(self, maintenance_id: str, request: MaintenanceCancel) -> Maintenance:
        return self._change(maintenance_id, lambda incident, updates, components: lifecycle.cancel(
            incident, updates, body=request.body, notify=request.notify, now=self.clock()))

    def take_step(self, maintenance_id: str, step: lifecycle.Step, sequence: int) -> bool:
        """What a schedule firing does: the step, once; False when it no longer
        applies (cancelled, rescheduled, moved on by hand, taken already, gone)."""
        def write() -> bool:
            loaded = self.store.load_incident(maintenance_id)
            if loaded is None or not loaded[0].is_maintenance:
                return False
            incident, updates = loaded
            components, versions = self._components_with_versions()
            taken = lifecycle.take_step(incident, updates, step, sequence, components, self.clock(), self.lead)
            if taken is None:
                return False
            changed, update = taken
            self._save(incident, changed, update, components, versions)
            return True

        applied = retry_conflicts(write, "the maintenance")
        logger.info("maintenance step", extra={"maintenance_id": maintenance_id, "step": step,
                                               "sequence": sequence, "applied": applied})
        return applied

    def _change(self, maintenance_id: str,
                apply: Callable[[Incident, list[IncidentUpdate], dict[str, Component]],
                                tuple[Incident, IncidentUpdate | None]]) -> Maintenance:
        def write() -> Maintenance:
            incident, updates = self.get(maintenance_id)
            components, versions = self._components_with_versions()
            changed, update = apply(incident, updates, components)
            if update is not None:  # posted by hand: by the staff request's actor (the clock's steps by no one)
                update = update.model_copy(update={"created_by": current_actor()})
            self._save(incident, changed, update, components, versions)
            return changed.model_copy(update={"version": incident.version + 1}), [
                *updates, *([update] if update else [])]

        result = retry_conflicts(write, "the maintenance")
        self.schedules.plan(result[0])
        return result

    def _save(self, incident: Incident, changed: Incident, update: IncidentUpdate | None,
              components: dict[str, Component], versions: dict[str, int]) -> None:
        writes: list[tuple[Component, int]] = []
        if update is not None:
            update = update.model_copy(update={"incident_version": incident.version + 1})
            for affected in update.affected_components or []:
                current = components.get(affected.code)
                if current is not None and current.status != affected.new_status and not update.backfilled:
                    writes.append((current.model_copy(update={"status": affected.new_status,
                                                              "updated_at": update.created_at}),
                                   versions[affected.code]))
        self.store.save_incident_change(changed, incident.version, new_update=update, components=writes)

    def _components_with_versions(self) -> tuple[dict[str, Component], dict[str, int]]:
        loaded = self.store.load_components()
        return {k: c for k, (c, _) in loaded.items()}, {k: v for k, (_, v) in loaded.items()}


def clock_event(event: Any) -> tuple[str, lifecycle.Step, int]:
    """A schedule's input, checked: what the clock function is asked to do."""
    if not isinstance(event, dict):
        raise ValueError("the clock's input is a JSON object")
    step = event.get("step")
    if step not in lifecycle.STEPS or not isinstance(event.get("maintenance_id"), str):
        raise ValueError(f"unknown step {step!r} or no maintenance_id")
    return event["maintenance_id"], step, int(event.get("sequence", 0))
