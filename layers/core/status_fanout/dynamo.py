"""The DynamoDB helper every context's store builds on: one table (docs/data-model.md),
item (de)serialisation, cursors, batched reads, transactions. SDK errors become
domain errors here and nowhere else."""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from status_fanout import audit
from status_fanout.clients import aws_client
from status_fanout.errors import ConflictError, DomainError, StoreUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

# DynamoDB's ceiling on the writes of one transaction.
TRANSACTION_LIMIT = 100

THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
             "InternalServerError", "ServiceUnavailable"}

T = TypeVar("T")
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class VersionConflict(Exception):
    """Someone else wrote first; re-read and try again. `reasons` has one code
    per item of a cancelled transaction ("ConditionalCheckFailed", None, ...)
    when DynamoDB said which failed."""

    def __init__(self, reasons: list[str | None] | None = None,
                 old_items: list[dict[str, Any] | None] | None = None) -> None:
        super().__init__("conditional write failed")
        self.reasons = reasons or []
        # Per item, what it held when its condition failed, for items written
        # with ReturnValuesOnConditionCheckFailure=ALL_OLD (else None).
        self.old_items = old_items or [None] * len(self.reasons)


# A contended read-modify-write keeps trying this long (inside API Gateway's
# 29 s), with full-jitter backoff capped at a quarter second.
CONFLICT_RETRY_SECONDS = 20.0
MAX_CONFLICT_BACKOFF = 0.25


def retry_conflicts(write: Callable[[], T], what: str, seconds: float = CONFLICT_RETRY_SECONDS) -> T:
    """Run a read-modify-write until it lands: concurrent writers of one item
    serialise on its version (a conditional write) instead of overwriting each
    other. After `seconds` of conflicts, ConflictError naming `what`."""
    deadline = time.monotonic() + seconds
    attempt = 0
    while True:
        try:
            return write()
        except (VersionConflict, ConflictError):
            if time.monotonic() >= deadline:
                raise ConflictError(f"{what} changed concurrently too many times; retry the request") from None
            time.sleep(random.uniform(0, min(MAX_CONFLICT_BACKOFF, 0.01 * 2**attempt)))
            attempt += 1


class BadCursorError(DomainError):
    status = 400
    code = "bad_cursor"


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


def projection(*attributes: str) -> dict[str, Any]:
    """A read's arguments naming only these attributes, each by placeholder
    (name, status, group and position are DynamoDB reserved words)."""
    return {"ProjectionExpression": ", ".join(f"#a{n}" for n in range(len(attributes))),
            "ExpressionAttributeNames": {f"#a{n}": name for n, name in enumerate(attributes)}}


class Store:
    # Made on first use: a cold start refused at the auth gate or serving
    # /openapi.json never pays the ~140 ms.
    client = aws_client("dynamodb")

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client


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

    def get_many(self, keys: Iterable[tuple[str, str]],
                 attributes: Iterable[str] = ()) -> dict[tuple[str, str], dict[str, Any]]:
        """The items at these (pk, sk) keys, strongly consistent, in BatchGetItem
        calls of up to 100 keys; absent items are left out. With `attributes`,
        only those of each item (its keys always)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        attributes = list(attributes)
        projected = projection("pk", "sk", *attributes) if attributes else {}
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [to_item({"pk": pk, "sk": sk}) for pk, sk in wanted[start:start + 100]],
                "ConsistentRead": True, **projected}}
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
        """One TransactWriteItems. During a staff write it also carries the
        request's audit entry (status_fanout.audit), if no earlier transaction
        of the request did and there is room: the change and its entry land
        together or not at all."""
        entry = audit.transaction_entry(items, self.table_name) if len(items) < TRANSACTION_LIMIT else None
        try:
            self.client.transact_write_items(TransactItems=[*items, entry[1]] if entry else items)
            if entry:
                audit.committed(*entry)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            cancelled = exc.response.get("CancellationReasons", [])
            reasons = [r.get("Code") for r in cancelled]
            if code == "TransactionCanceledException" and (
                "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons
                or "ConditionalCheckFailed" in error.get("Message", "")
            ):
                raise VersionConflict([r if r != "None" else None for r in reasons],
                                      [r.get("Item") for r in cancelled]) from exc
            if code in THROTTLED or code == "TransactionInProgressException":
                raise StoreUnavailableError("the database is busy; retry shortly") from exc
            raise

    def put_all(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Put up to 25 items in one BatchWriteItem, re-sending what DynamoDB left
        unprocessed with backoff; returns the items still unwritten after that."""
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(6):
            try:
                reply = self.client.batch_write_item(RequestItems={self.table_name: requests})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code", "") not in THROTTLED:
                    raise
                reply = {"UnprocessedItems": {self.table_name: requests}}
            requests = (reply.get("UnprocessedItems") or {}).get(self.table_name) or []
            if not requests:
                return []
            time.sleep(min(1.0, 0.05 * 2**attempt))  # DynamoDB is shedding load
        return [r["PutRequest"]["Item"] for r in requests]
