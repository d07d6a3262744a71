"""Webhook endpoints, the sharded subscriber index, event snapshots and the
delivery log, on the one table (docs/data-model.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from status_fanout.delivery.claims import ClaimRequest, outcome_item
from status_fanout.delivery.subscriber_index import (
    ALL,
    buckets_of,
    index_keys,
    index_pk,
    index_writes,
    shard_of,
)
from status_fanout.dynamo import Store, VersionConflict, decode_cursor, encode_cursor, from_item, to_item
from status_fanout.errors import ConflictError, NotFoundError
from status_fanout.webhooks.models import WebhookEndpoint

__all__ = ["ALL", "WebhookStore", "buckets_of", "index_pk", "shard_of", "webhook_pk"]

WEBHOOKS_GSI1PK = "WEBHOOKS"
META_SK = "#META"
DELIVERY_LOG_DAYS = 30
ATTEMPTS_KEPT = 10


def webhook_pk(webhook_id: str) -> str:
    return f"WH#{webhook_id}"


class WebhookStore:
    def __init__(self, db: Store, shards: int) -> None:
        self.db = db
        self.shards = shards

    # --- endpoints ---------------------------------------------------------

    def _index_items(self, endpoint: WebhookEndpoint) -> set[tuple[str, str]]:
        return index_keys("webhook", endpoint.id, endpoint.components, self.shards)

    def save(self, endpoint: WebhookEndpoint, previous: WebhookEndpoint | None) -> WebhookEndpoint:
        """Write the endpoint and its index entries together, conditional on its version."""
        saved = endpoint.model_copy(update={"version": (previous.version if previous else 0) + 1})
        head: dict[str, Any] = {
            "TableName": self.db.table_name,
            "Item": to_item({"pk": webhook_pk(endpoint.id), "sk": META_SK, "type": "webhook",
                             "gsi1pk": WEBHOOKS_GSI1PK, "gsi1sk": f"{endpoint.created_at}#{endpoint.id}",
                             **saved.model_dump()}),
        }
        if previous is None:
            head["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            head["ConditionExpression"] = "version = :v"
            head["ExpressionAttributeValues"] = {":v": {"N": str(previous.version)}}
        items: list[dict[str, Any]] = [{"Put": head}]
        old = self._index_items(previous) if previous else set()
        new = self._index_items(saved) if saved.status == "active" else set()
        items += index_writes(self.db.table_name, "webhook", old, new, {"events": saved.events})
        try:
            self.db.transact(items)
        except VersionConflict as exc:
            raise ConflictError("the webhook changed meanwhile; read it again and retry") from exc
        return saved

    def get(self, webhook_id: str) -> WebhookEndpoint:
        item = self.db.call("get_item", Key=to_item({"pk": webhook_pk(webhook_id), "sk": META_SK}),
                            ConsistentRead=True).get("Item")
        if not item:
            raise NotFoundError(f"no webhook {webhook_id}")
        return WebhookEndpoint.model_validate(from_item(item))

    def get_many(self, webhook_ids: list[str]) -> dict[str, WebhookEndpoint]:
        """The endpoints that exist among these ids, in BatchGetItem calls."""
        items = self.db.get_many((webhook_pk(i), META_SK) for i in webhook_ids)
        endpoints = (WebhookEndpoint.model_validate(from_item(item)) for item in items.values())
        return {endpoint.id: endpoint for endpoint in endpoints}

    def delete(self, endpoint: WebhookEndpoint) -> None:
        items: list[dict[str, Any]] = [{"Delete": {
            "TableName": self.db.table_name, "Key": to_item({"pk": webhook_pk(endpoint.id), "sk": META_SK}),
            "ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": str(endpoint.version)}},
        }}]
        for pk, sk in self._index_items(endpoint):
            items.append({"Delete": {"TableName": self.db.table_name, "Key": to_item({"pk": pk, "sk": sk})}})
        try:
            self.db.transact(items)
        except VersionConflict as exc:
            raise ConflictError("the webhook changed meanwhile; read it again and retry") from exc

    def list_endpoints(self, limit: int, cursor: str | None) -> tuple[list[WebhookEndpoint], str | None]:
        kwargs: dict[str, Any] = {
            "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": WEBHOOKS_GSI1PK}}, "ScanIndexForward": False, "Limit": limit,
        }
        start = decode_cursor(cursor, ("pk", "sk", "gsi1pk", "gsi1sk"))
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.db.call("query", **kwargs)
        endpoints = [WebhookEndpoint.model_validate(from_item(i)) for i in page.get("Items", [])]
        return endpoints, encode_cursor(page.get("LastEvaluatedKey"))

    def mark_failing(self, webhook_id: str, now: str) -> str:
        """Start the endpoint's failure streak unless one runs; returns when it began."""
        try:
            reply = self.db.call(
                "update_item", Key=to_item({"pk": webhook_pk(webhook_id), "sk": META_SK}),
                UpdateExpression="SET failing_since = if_not_exists(failing_since, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": {"S": now}}, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return now
        return str(reply["Attributes"]["failing_since"]["S"])

    def clear_failing(self, webhook_id: str) -> None:
        try:
            self.db.call("update_item", Key=to_item({"pk": webhook_pk(webhook_id), "sk": META_SK}),
                         UpdateExpression="REMOVE failing_since", ConditionExpression="attribute_exists(pk)")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    # --- the delivery log -----------------------------------------------------

    @staticmethod
    def _delivery_key(webhook_id: str, delivery: Mapping[str, Any]) -> dict[str, str]:
        return {"pk": webhook_pk(webhook_id), "sk": f"DLV#{delivery['occurred_at']}#{delivery['delivery_id']}"}

    def delivery_claim(self, job: Mapping[str, Any], now: int) -> ClaimRequest:
        """Where a delivery's claim lives: its own log item, written whole with the claim."""
        return ClaimRequest(job["delivery_id"], self._delivery_key(job["subscriber_id"], job), {
            "type": "delivery", "delivery_id": job["delivery_id"], "event_id": job["event_id"],
            "event_type": job.get("event_type", ""), "occurred_at": job["occurred_at"],
            "expires_at": now + DELIVERY_LOG_DAYS * 86400})

    @staticmethod
    def attempt_outcome(held: Mapping[str, Any], attempt: dict[str, Any], status: str, next_retry_at: str | None,
                        now_epoch: int) -> dict[str, Any]:
        """The delivery's log item with this attempt appended; its status ends the
        attempt's claim (`delivered` for good, any other lets a retry claim it)."""
        attempts = [*held.get("attempts", []), attempt][-ATTEMPTS_KEPT:]
        return outcome_item(held, status, attempts=attempts, next_retry_at=next_retry_at,
                            expires_at=now_epoch + DELIVERY_LOG_DAYS * 86400)

    def deliveries(self, webhook_id: str, limit: int, cursor: str | None,
                   since: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        condition = "pk = :p AND begins_with(sk, :d)"
        values: dict[str, Any] = {":p": {"S": webhook_pk(webhook_id)}, ":d": {"S": "DLV#"}}
        if since:
            condition = "pk = :p AND sk BETWEEN :lo AND :hi"
            values = {":p": values[":p"], ":lo": {"S": f"DLV#{since}"}, ":hi": {"S": "DLV#\uffff"}}
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ExpressionAttributeValues": values,
                                  "ScanIndexForward": since is not None, "Limit": limit}
        start = decode_cursor(cursor, ("pk", "sk"))
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.db.call("query", **kwargs)
        items = [from_item(i) for i in page.get("Items", [])]
        for item in items:
            item["attempts"] = item.get("attempts", [])[-ATTEMPTS_KEPT:]
            item.setdefault("next_retry_at", None)
        return items, encode_cursor(page.get("LastEvaluatedKey"))

