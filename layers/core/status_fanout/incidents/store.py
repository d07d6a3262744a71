"""The incidents' data layer: components, incidents and their updates in the
single table (docs/data-model.md, "Incidents and components")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from status_fanout.dynamo import Store, decode_cursor, encode_cursor, from_item, to_item
from status_fanout.incidents.models import Component, Incident, IncidentUpdate

COMPONENTS_PK = "COMP"
INCIDENTS_GSI1PK = "INCIDENTS"
OPEN_GSI2PK = "OPEN"
# Maintenances are incidents in their own index partitions, so no incident
# query (the list, the unresolved ones behind the page's status) meets one.
MAINTENANCES_GSI1PK = "MAINTENANCES"
OPEN_MAINTENANCES_GSI2PK = "MAINTENANCE_OPEN"
HEAD_SK = "#HEAD"


def incident_pk(incident_id: str) -> str:
    return f"INC#{incident_id}"


def update_sk(seq: int) -> str:
    return f"UPD#{seq:06d}"


def component_sk(component_id: str) -> str:
    return f"COMP#{component_id}"


class IncidentStore(Store):
    """The table, with the incident core's access patterns."""

    # --- components --------------------------------------------------------

    def load_components(self) -> dict[str, tuple[Component, int]]:
        """Every component with its version (for conditional writes), in one query."""
        items = self.query_all(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": COMPONENTS_PK}},
            ConsistentRead=True,
        )
        loaded = {}
        for raw in items:
            data = from_item(raw)
            loaded[data["id"]] = (Component.model_validate(data), int(data.get("version", 0)))
        return loaded

    def list_components(self) -> list[Component]:
        return sorted((c for c, _ in self.load_components().values()), key=lambda c: (c.position, c.name, c.id))

    def _component_put(self, component: Component, version: int, changed_by: str | None) -> dict[str, Any]:
        item = to_item(
            {"pk": COMPONENTS_PK, "sk": component_sk(component.id), "type": "component",
             "version": version + 1, "changed_by": changed_by, **component.model_dump()}
        )
        put: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        if version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
        return {"Put": put}

    def save_component(self, component: Component, version: int, changed_by: str | None) -> None:
        """Write one component, failing with VersionConflict if it moved on."""
        self.transact([self._component_put(component, version, changed_by)])

    # --- incidents ---------------------------------------------------------

    def load_incident(self, incident_id: str) -> tuple[Incident, list[IncidentUpdate]] | None:
        items = self.query_all(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": incident_pk(incident_id)}},
            ConsistentRead=True,
        )
        head: Incident | None = None
        updates: list[IncidentUpdate] = []
        for raw in items:
            data = from_item(raw)
            if data.get("type") == "incident":
                head = Incident.model_validate(data)
            elif data.get("type") == "update":
                updates.append(IncidentUpdate.model_validate(data))
        if head is None:
            return None
        return head, updates

    def _incident_put(self, incident: Incident, previous_version: int) -> dict[str, Any]:
        maintenance = incident.is_maintenance
        # A maintenance sorts by when it is scheduled for, an incident by when it started.
        sort = f"{incident.scheduled_for if maintenance else incident.started_at}#{incident.id}"
        data: dict[str, Any] = {
            "pk": incident_pk(incident.id), "sk": HEAD_SK, "type": "incident",
            "gsi1pk": MAINTENANCES_GSI1PK if maintenance else INCIDENTS_GSI1PK, "gsi1sk": sort,
            **incident.model_dump(),
        }
        data["version"] = previous_version + 1
        if incident.status not in ("resolved", "completed"):
            # Sparse index: only open incidents (and maintenances to come or under way) carry gsi2 keys.
            data["gsi2pk"] = OPEN_MAINTENANCES_GSI2PK if maintenance else OPEN_GSI2PK
            data["gsi2sk"] = sort
        put: dict[str, Any] = {"TableName": self.table_name, "Item": to_item(data)}
        if previous_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(previous_version)}}
        return {"Put": put}

    def _update_put(self, update: IncidentUpdate, new: bool) -> dict[str, Any]:
        item = to_item({"pk": incident_pk(update.incident_id), "sk": update_sk(update.seq), "type": "update",
                        **update.model_dump()})
        put: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        put["ConditionExpression"] = "attribute_not_exists(pk)" if new else "attribute_exists(pk)"
        return {"Put": put}

    def save_incident_change(
        self,
        incident: Incident,
        previous_version: int,
        new_update: IncidentUpdate | None = None,
        changed_update: IncidentUpdate | None = None,
        components: Iterable[tuple[Component, int]] = (),
    ) -> None:
        """Write the incident head and what changed with it in one transaction,
        conditional on the head's version so concurrent posts cannot lose one."""
        items = [self._incident_put(incident, previous_version)]
        if new_update is not None:
            items.append(self._update_put(new_update, new=True))
        if changed_update is not None:
            items.append(self._update_put(changed_update, new=False))
        changed_by = f"incident:{incident.id}:{new_update.id}" if new_update else None
        items.extend(self._component_put(c, v, changed_by) for c, v in components)
        self.transact(items)

    def list_incidents(self, limit: int, cursor: str | None = None) -> tuple[list[Incident], str | None]:
        """Newest first (by start time), one page."""
        return self._incident_page("gsi1", INCIDENTS_GSI1PK, limit, cursor)

    def list_unresolved(self) -> list[Incident]:
        return self._all("gsi2", OPEN_GSI2PK)

    def list_maintenances(self, limit: int, cursor: str | None = None) -> tuple[list[Incident], str | None]:
        """Latest scheduled first, one page."""
        return self._incident_page("gsi1", MAINTENANCES_GSI1PK, limit, cursor)

    def list_open_maintenances(self) -> list[Incident]:
        """Upcoming and under way: latest scheduled first."""
        return self._all("gsi2", OPEN_MAINTENANCES_GSI2PK)

    def _all(self, index: str, partition: str) -> list[Incident]:
        incidents: list[Incident] = []
        cursor = None
        while True:
            page, cursor = self._incident_page(index, partition, 100, cursor)
            incidents.extend(page)
            if cursor is None:
                return incidents

    def _incident_page(
        self, index: str, partition: str, limit: int, cursor: str | None
    ) -> tuple[list[Incident], str | None]:
        kwargs: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :p",
            "ExpressionAttributeValues": {":p": {"S": partition}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = decode_cursor(cursor, ("pk", "sk", f"{index}pk", f"{index}sk"))
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.call("query", **kwargs)
        incidents = [Incident.model_validate(from_item(i)) for i in page.get("Items", [])]
        return incidents, encode_cursor(page.get("LastEvaluatedKey"))
