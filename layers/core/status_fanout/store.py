"""The DynamoDB data layer: one table, keys and access patterns as in
docs/data-model.md. SDK errors become domain errors here and nowhere else."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .errors import DomainError, StoreUnavailableError
from .models import Component, Incident, IncidentUpdate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

COMPONENTS_PK = "COMP"
INCIDENTS_GSI1PK = "INCIDENTS"
OPEN_GSI2PK = "OPEN"
HEAD_SK = "#HEAD"
THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
             "InternalServerError", "ServiceUnavailable"}

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class VersionConflict(Exception):
    """Someone else wrote first; re-read and try again."""


class BadCursorError(DomainError):
    status = 400
    code = "bad_cursor"


def incident_pk(incident_id: str) -> str:
    return f"INC#{incident_id}"


def update_sk(seq: int) -> str:
    return f"UPD#{seq:06d}"


def component_sk(component_id: str) -> str:
    return f"COMP#{component_id}"


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    plain = {k: v["S"] for k, v in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, index_keys: tuple[str, ...]) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        plain = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursorError("cursor is not one this API returned", [{"field": "cursor"}]) from exc
    if not isinstance(plain, dict) or set(plain) != set(index_keys) or not all(
        isinstance(v, str) and len(v) < 512 for v in plain.values()
    ):
        raise BadCursorError("cursor is not one this API returned", [{"field": "cursor"}])
    return {k: {"S": v} for k, v in plain.items()}


class Store:
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        # Created on first use, not at import: a cold start that is refused at
        # the auth gate or serves /openapi.json never pays the ~140 ms.
        if self._client is None:
            self._client = boto3.client("dynamodb")
        return self._client

    # --- low level ---------------------------------------------------------

    def call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, operation)(TableName=self.table_name, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in THROTTLED:
                raise StoreUnavailableError("the database is busy; retry shortly") from exc
            raise

    def query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.call("query", **kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The items at these (pk, sk) keys, strongly consistent, in BatchGetItem
        calls of up to 100 keys; absent items are left out."""
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [to_item({"pk": pk, "sk": sk}) for pk, sk in wanted[start:start + 100]],
                "ConsistentRead": True}}
            while request:
                try:
                    reply = self.client.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code", "") in THROTTLED:
                        raise StoreUnavailableError("the database is busy; retry shortly") from exc
                    raise
                for item in reply.get("Responses", {}).get(self.table_name, []):
                    found[(item["pk"]["S"], item["sk"]["S"])] = item
                request = reply.get("UnprocessedKeys") or {}
                if request:  # DynamoDB is shedding load: give it a moment before asking again
                    time.sleep(0.05)
        return found

    def transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if code == "TransactionCanceledException" and (
                "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons
                or "ConditionalCheckFailed" in error.get("Message", "")
            ):
                raise VersionConflict() from exc
            if code in THROTTLED or code == "TransactionInProgressException":
                raise StoreUnavailableError("the database is busy; retry shortly") from exc
            raise

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
        data: dict[str, Any] = {
            "pk": incident_pk(incident.id), "sk": HEAD_SK, "type": "incident",
            "gsi1pk": INCIDENTS_GSI1PK, "gsi1sk": f"{incident.started_at}#{incident.id}",
            **incident.model_dump(),
        }
        data["version"] = previous_version + 1
        if incident.status != "resolved":
            # Sparse index: only unresolved incidents carry gsi2 keys.
            data["gsi2pk"] = OPEN_GSI2PK
            data["gsi2sk"] = f"{incident.started_at}#{incident.id}"
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
        incidents: list[Incident] = []
        cursor = None
        while True:
            page, cursor = self._incident_page("gsi2", OPEN_GSI2PK, 100, cursor)
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
