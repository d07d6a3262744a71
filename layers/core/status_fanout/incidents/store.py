"""The incidents' data layer: components, incidents and their updates in the
single table (docs/data-model.md, "Incidents and components")."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from status_fanout import audit
from status_fanout.dynamo import (
    TRANSACTION_LIMIT,
    Store,
    decode_cursor,
    encode_cursor,
    from_item,
    projection,
    to_item,
)
from status_fanout.incidents.models import Component, Incident, IncidentUpdate
from status_fanout.observability import logger

COMPONENTS_PK = "COMP"
INCIDENTS_GSI1PK = "INCIDENTS"
OPEN_GSI2PK = "OPEN"
# Maintenances are incidents in their own index partitions, so no incident
# query (the list, the unresolved ones behind the page's status) meets one.
MAINTENANCES_GSI1PK = "MAINTENANCES"
OPEN_MAINTENANCES_GSI2PK = "MAINTENANCE_OPEN"
HEAD_SK = "#HEAD"
# A component's status history: one item per change (docs/data-model.md, "Component status history").
HISTORY_PREFIX = "CSH#"
# History items per page of `status_window` (newest first): a window of fewer
# changes costs one Query, the status before it included.
WINDOW_PAGE = 100
# What the publisher last computed of a component's uptime window (publishing/uptime.py, `Rollup`).
UPTIME_PREFIX = "UPT#"
UPTIME_SK = "window"


def incident_pk(incident_id: str) -> str:
    return f"INC#{incident_id}"


def update_sk(seq: int) -> str:
    return f"UPD#{seq:06d}"


def component_sk(component_id: str) -> str:
    return f"COMP#{component_id}"


def history_pk(component_id: str) -> str:
    return f"{HISTORY_PREFIX}{component_id}"


def history_sk(changed_at: str, ref: str) -> str:
    return f"{changed_at}#{ref}"


def uptime_pk(component_id: str) -> str:
    return f"{UPTIME_PREFIX}{component_id}"


def new_history_rev() -> str:
    """A fresh mark of a component's history: set with every write that moves
    the history, so anything computed from it can tell it is stale."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class StatusChange:
    """One change of a component's status: when, to what, and what made it
    (`source`: incident, maintenance, backfill, patch or put; `ref`: the
    update's id, or the source again for a patch or put)."""

    component_id: str
    changed_at: str
    status: str
    source: str
    ref: str

    @classmethod
    def from_item(cls, raw: dict[str, Any]) -> StatusChange:
        data = from_item(raw)
        return cls(data["component_id"], data["changed_at"], data["status"], data["source"], data["ref"])


def _history_component(op: dict[str, Any]) -> str:
    """The component a history Put or Delete is about."""
    key = op["Put"]["Item"] if "Put" in op else op["Delete"]["Key"]
    return str(key["pk"]["S"]).removeprefix(HISTORY_PREFIX)


class IncidentStore(Store):
    """The table, with the incident core's access patterns."""

    # --- components --------------------------------------------------------

    def _component_rows(self, *attributes: str) -> list[dict[str, Any]]:
        """Every component item; only `attributes` of each, if named."""
        return [from_item(raw) for raw in self.query_all(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": COMPONENTS_PK}},
            ConsistentRead=True, **(projection(*attributes) if attributes else {}),
        )]

    def load_components(self) -> dict[str, tuple[Component, int]]:
        """Every component with its version (for conditional writes), in one query."""
        return {data["id"]: (Component.model_validate(data), int(data.get("version", 0)))
                for data in self._component_rows()}

    def list_components(self) -> list[Component]:
        return sorted((c for c, _ in self.load_components().values()), key=lambda c: (c.position, c.name, c.id))

    def components_with_history_revs(self) -> list[tuple[Component, str]]:
        """Every component (in page order) with the mark of its status history
        (`history_rev`, docs/data-model.md): one query, like `list_components`."""
        # The public fields and the mark only: a render reads this with every change.
        rows = [(Component.model_validate(data), str(data.get("history_rev", "")))
                for data in self._component_rows(*Component.model_fields, "history_rev")]
        return sorted(rows, key=lambda row: (row[0].position, row[0].name, row[0].id))

    def _component_put(self, component: Component, version: int, changed_by: str | None) -> dict[str, Any]:
        item = to_item(
            {"pk": COMPONENTS_PK, "sk": component_sk(component.id), "type": "component",
             "version": version + 1, "changed_by": changed_by, "history_rev": new_history_rev(),
             **component.model_dump()}
        )
        put: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        if version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
        return {"Put": put}

    def save_component(self, component: Component, version: int, changed_by: str | None,
                       history_source: str | None = None) -> None:
        """Write one component, failing with VersionConflict if it moved on;
        with `history_source` (its status changed) its history item in the same transaction."""
        items = [self._component_put(component, version, changed_by)]
        if history_source is not None:
            items.append(self._history_put(StatusChange(component.id, component.updated_at, component.status,
                                                        history_source, history_source)))
        self.transact(items)

    # --- component status history ------------------------------------------

    def _history_put(self, change: StatusChange) -> dict[str, Any]:
        # Unconditional: the key is deterministic, so writing it again writes the same item.
        item = to_item({"pk": history_pk(change.component_id), "sk": history_sk(change.changed_at, change.ref),
                        "type": "status_change", "component_id": change.component_id,
                        "changed_at": change.changed_at, "status": change.status, "source": change.source,
                        "ref": change.ref})
        return {"Put": {"TableName": self.table_name, "Item": item}}

    @staticmethod
    def _history_rev_mark(component_id: str) -> dict[str, Any]:
        """A new `history_rev` for a component whose history moves without the
        component being written (a backfill, a correction), as UpdateItem's
        arguments. Conditional: it never creates a component."""
        return {"Key": to_item({"pk": COMPONENTS_PK, "sk": component_sk(component_id)}),
                "UpdateExpression": "SET history_rev = :rev", "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeValues": {":rev": {"S": new_history_rev()}}}

    def _history_delete(self, component_id: str, changed_at: str, ref: str) -> dict[str, Any]:
        key = to_item({"pk": history_pk(component_id), "sk": history_sk(changed_at, ref)})
        return {"Delete": {"TableName": self.table_name, "Key": key}}

    def _update_history(self, incident: Incident, update: IncidentUpdate,
                        components: Iterable[tuple[Component, int]]) -> list[dict[str, Any]]:
        """The history items an update adds: a backfilled one records every
        component it names at its display time (the live status stays); a live
        one records the components it changed."""
        if update.backfilled:
            return [self._history_put(StatusChange(a.code, update.display_at, a.new_status, "backfill", update.id))
                    for a in update.affected_components or []]
        source = "maintenance" if incident.is_maintenance else "incident"
        return [self._history_put(StatusChange(c.id, update.display_at, c.status, source, update.id))
                for c, _ in components]

    def _moved_history(self, incident: Incident, before: IncidentUpdate,
                       after: IncidentUpdate) -> list[dict[str, Any]]:
        """A correction that moves an update's display time moves its history items with it."""
        if before.display_at == after.display_at:
            return []
        source = "backfill" if after.backfilled else "maintenance" if incident.is_maintenance else "incident"
        ops = [self._history_delete(a.code, before.display_at, before.id) for a in before.affected_components or []]
        ops += [self._history_put(StatusChange(a.code, after.display_at, a.new_status, source, after.id))
                for a in after.affected_components or []]
        return ops

    def _transact_with_history(self, items: list[dict[str, Any]], history: list[dict[str, Any]]) -> None:
        """The change and its history in one transaction when they fit in
        TRANSACTION_LIMIT writes (always, but for an update naming more than 48
        components); the rest right after it, idempotent by their keys."""
        # Components the history moves but the change does not write get a new
        # `history_rev` in the same transaction (those it writes get one with the write).
        written = {op["Put"]["Item"]["sk"]["S"] for op in items
                   if "Put" in op and op["Put"]["Item"]["pk"]["S"] == COMPONENTS_PK}
        moved = dict.fromkeys(_history_component(op) for op in history)
        revs = [{"Update": {"TableName": self.table_name, **self._history_rev_mark(c)}}
                for c in moved if component_sk(c) not in written]
        # A staff request's audit entry rides in the first transaction (Store.transact), so
        # the change never lands unaudited: history yields it the room. The change itself
        # always leaves it one (MAX_COMPONENTS_PER_REQUEST: head, update, 97 components).
        room = TRANSACTION_LIMIT - len(items) - (1 if audit.pending_entry() is not None else 0)
        # Marks that do not fit belong to components whose history all goes after the
        # transaction (room left for history is then 0): the loop below marks those.
        revs_now = revs[:max(room, 0)]
        room = max(room - len(revs_now), 0)
        self.transact([*items, *revs_now, *history[:room]])
        overflow = history[room:]
        if not overflow:
            return
        puts = [op["Put"]["Item"] for op in overflow if "Put" in op]
        unwritten = [item for start in range(0, len(puts), 25) for item in self.put_all(puts[start:start + 25])]
        for op in overflow:
            if "Delete" in op:
                self.call("delete_item", Key=op["Delete"]["Key"])
        # The transaction gave these components a new mark before their history
        # was whole: a render in between computed from a part. Mark them again.
        for component_id in dict.fromkeys(_history_component(op) for op in overflow):
            self.call("update_item", **self._history_rev_mark(component_id))
        if unwritten:
            # The change stands (failing now would make the client's retry post it twice); its
            # update item still holds what these items say (docs/data-model.md).
            logger.error("status history not written", extra={"keys": [(i["pk"]["S"], i["sk"]["S"])
                                                                        for i in unwritten]})

    def component_history(self, component_id: str, since: str) -> list[StatusChange]:
        """The component's status changes at or after `since`, oldest first: one Query."""
        items = self.query_all(
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues={":pk": {"S": history_pk(component_id)}, ":since": {"S": since}},
        )
        return [StatusChange.from_item(raw) for raw in items]

    def status_before(self, component_id: str, at: str) -> StatusChange | None:
        """The last change before `at` (the status a window starts with): one Query, one item."""
        page = self.call("query", KeyConditionExpression="pk = :pk AND sk < :at",
                         ExpressionAttributeValues={":pk": {"S": history_pk(component_id)}, ":at": {"S": at}},
                         ScanIndexForward=False, Limit=1)
        items = page.get("Items", [])
        return StatusChange.from_item(items[0]) if items else None

    def status_window(self, component_id: str, since: str, page: int = WINDOW_PAGE) -> list[StatusChange]:
        """The component's status changes at or after `since` and the last one
        before it (the status a window starts with), oldest first: what
        `status_before` and `component_history` return together, in one Query
        while the window holds fewer than `page` changes (newest first, pages
        of `page` items until one before `since`)."""
        found: list[StatusChange] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": history_pk(component_id)}},
                                  "ScanIndexForward": False, "Limit": page}
        while True:
            reply = self.call("query", **kwargs)
            for raw in reply.get("Items", []):
                found.append(StatusChange.from_item(raw))
                if raw["sk"]["S"] < since:
                    return found[::-1]
            if "LastEvaluatedKey" not in reply:
                return found[::-1]
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    # --- uptime rollups (the publisher's, docs/data-model.md) --------------

    def uptime_rollups(self, component_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored rollup fields of these components (BatchGetItem; absent ones left out)."""
        keys = [(uptime_pk(c), UPTIME_SK) for c in component_ids]
        found = self.get_many(keys, ("history_rev", "window"))  # every render reads these: the fields only
        return {pk.removeprefix(UPTIME_PREFIX): from_item(item) for (pk, _), item in found.items()}

    def save_uptime_rollups(self, rollups: Mapping[str, Mapping[str, str]]) -> None:
        """Put these components' rollups (BatchWriteItem). Best effort: one left
        unwritten is only computed again next time (its rev no longer matches)."""
        items = [to_item({"pk": uptime_pk(c), "sk": UPTIME_SK, "type": "uptime_rollup", "component_id": c, **fields})
                 for c, fields in rollups.items()]
        unwritten = [item for start in range(0, len(items), 25) for item in self.put_all(items[start:start + 25])]
        if unwritten:
            logger.warning("uptime rollups not written", extra={"components": len(unwritten)})

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
        corrected_from: IncidentUpdate | None = None,
    ) -> None:
        """Write the incident head and what changed with it in one transaction,
        conditional on the head's version so concurrent posts cannot lose one;
        the components' history with it (`corrected_from`: `changed_update` as it was)."""
        components = list(components)
        items = [self._incident_put(incident, previous_version)]
        if new_update is not None:
            items.append(self._update_put(new_update, new=True))
        if changed_update is not None:
            items.append(self._update_put(changed_update, new=False))
        changed_by = f"incident:{incident.id}:{new_update.id}" if new_update else None
        items.extend(self._component_put(c, v, changed_by) for c, v in components)
        history = self._update_history(incident, new_update, components) if new_update is not None else []
        if changed_update is not None and corrected_from is not None:
            history += self._moved_history(incident, corrected_from, changed_update)
        self._transact_with_history(items, history)

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
