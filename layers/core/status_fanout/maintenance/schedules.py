"""The maintenance clock on AWS: one one-time EventBridge Scheduler schedule
per step still to come (reminder, start, completion), in the stack's schedule
group, each invoking the clock function with what to do.

Schedules are named after the maintenance and the step, so planning again
(after a reschedule) overwrites them and a cancel deletes them; each carries
the maintenance's `schedule_sequence`, so one that fires anyway after a
change does nothing (maintenance.lifecycle.take_step). Scheduler deletes a
schedule once it has run (ActionAfterCompletion DELETE). The local stack
reads the same schedules from the emulator and fires them when due.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any

from botocore.exceptions import ClientError

from status_fanout.clients import aws_client
from status_fanout.incidents.models import Incident
from status_fanout.maintenance.lifecycle import STEPS, Step, due_at
from status_fanout.settings import Settings


def schedule_name(maintenance_id: str, step: Step) -> str:
    return f"maintenance-{maintenance_id}-{step}"


def at_expression(incident: Incident, step: Step, lead: timedelta) -> str | None:
    """`at(...)` in whole seconds, rounded up: a schedule never fires before its step is due."""
    when = due_at(incident, step, lead)
    if when is None:
        return None
    when = when.astimezone(UTC)
    if when.microsecond:
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({when:%Y-%m-%dT%H:%M:%S})"


class MaintenanceSchedules:
    scheduler = aws_client("scheduler")

    def __init__(self, settings: Settings, scheduler: Any = None) -> None:
        self.settings = settings.maintenance
        self._scheduler = scheduler

    @property
    def enabled(self) -> bool:
        return bool(self.settings.schedule_group and self.settings.clock_function_arn)

    def plan(self, incident: Incident) -> dict[str, str | None]:
        """Make the schedules match the maintenance: each step still to come at
        its time, none for a step that will not happen. Returns step -> expression."""
        planned: dict[str, str | None] = {}
        for step in STEPS:
            expression = at_expression(incident, step, self.settings.reminder_lead)
            planned[step] = expression
            if expression is None or not self.enabled:
                self._delete(incident.id, step)
                continue
            request: dict[str, Any] = {
                "Name": schedule_name(incident.id, step), "GroupName": self.settings.schedule_group,
                "ScheduleExpression": expression, "ScheduleExpressionTimezone": "UTC",
                "FlexibleTimeWindow": {"Mode": "OFF"}, "ActionAfterCompletion": "DELETE",
                "Target": {"Arn": self.settings.clock_function_arn, "RoleArn": self.settings.scheduler_role_arn,
                           "Input": json.dumps({"maintenance_id": incident.id, "step": step,
                                                "sequence": incident.schedule_sequence}),
                           "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}},
                "Description": f"status-fanout maintenance {incident.id}: {step}",
            }
            try:
                self.scheduler.create_schedule(**request)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConflictException":
                    raise
                self.scheduler.update_schedule(**request)
        return planned

    def clear(self, incident: Incident) -> None:
        for step in STEPS:
            self._delete(incident.id, step)

    def _delete(self, maintenance_id: str, step: Step) -> None:
        if not self.enabled:
            return
        try:
            self.scheduler.delete_schedule(Name=schedule_name(maintenance_id, step),
                                           GroupName=self.settings.schedule_group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
