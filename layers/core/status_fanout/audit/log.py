"""The audit log's reads: entries newest first (docs/data-model.md, "Audit
log"), for GET /v1/audit alone, so loaded by its first request. Entries are
written by status_fanout.audit; nothing changes or deletes one but
DynamoDB's TTL, after 400 days."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from status_fanout.audit import FIELDS, PK_PREFIX, RETENTION_SECONDS
from status_fanout.dynamo import BadCursorError, Store, from_item

# Months the log can hold entries of: the retention, rounded up, plus the current one.
MONTHS_KEPT = RETENTION_SECONDS // (86400 * 28) + 2
# Entries read per Query while an actor filter skips others.
SCAN_PAGE = 200
SK_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}T[\d:.]+Z#[\x21-\x7e]{1,512}$")


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, defer_build=True)
    since: Annotated[datetime | None, Field(description="Only entries at or after this time (RFC 3339)")] = None
    actor: Annotated[str | None, Field(min_length=1, max_length=64, description=(
        "Only this actor's entries (a key's name, bootstrap, anonymous)"))] = None
    limit: Annotated[int, Field(ge=1, le=100, description="Entries per page")] = 50
    cursor: Annotated[str | None, Field(max_length=2048, description="next_cursor of the previous page")] = None


def _months_back(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    return f"{year:04d}-{number:02d}"


def _encode(sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": sk}).encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursorError("cursor is not one this API returned", [{"field": "cursor"}]) from exc
    before = plain.get("before") if isinstance(plain, dict) else None
    if not isinstance(before, str) or not SK_SHAPE.match(before):
        raise BadCursorError("cursor is not one this API returned", [{"field": "cursor"}])
    return before


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class AuditLog:
    def __init__(self, db: Store) -> None:
        self.db = db

    def entries(self, query: AuditQuery, now: datetime | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first: month partitions from the cursor's (or this) month back
        to `since`'s (or the oldest kept), `limit` entries, and the cursor of
        the next page (a full page has one; the next may then be empty)."""
        before = _decode(query.cursor) if query.cursor else None
        since = _ts(query.since) if query.since else None
        month = (before or _ts(now or datetime.now(UTC)))[:7]
        found: list[dict[str, Any]] = []
        for _ in range(MONTHS_KEPT):
            if since is not None and month < since[:7]:
                break
            found += self._month(month, before, since, query.actor, query.limit - len(found))
            if len(found) >= query.limit:
                return [_shown(e) for e in found], _encode(found[-1]["sk"])
            before = None
            month = _months_back(month)
        return [_shown(e) for e in found], None

    def _month(self, month: str, before: str | None, since: str | None, actor: str | None,
               wanted: int) -> list[dict[str, Any]]:
        """Up to `wanted` entries of one month's partition, newest first."""
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": f"{PK_PREFIX}{month}"}}
        if before and since:
            condition += " AND sk BETWEEN :since AND :before"
            values[":since"], values[":before"] = {"S": since}, {"S": before}
        elif before:
            condition += " AND sk < :before"
            values[":before"] = {"S": before}
        elif since:
            condition += " AND sk >= :since"
            values[":since"] = {"S": since}
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ExpressionAttributeValues": values,
                                  "ScanIndexForward": False, "Limit": SCAN_PAGE if actor else wanted + 1}
        if actor is not None:
            # An actor's entries among everyone's: a filter, so a flood of other
            # actors' entries costs reads, never wrong pages.
            kwargs["FilterExpression"] = "actor = :actor"
            values[":actor"] = {"S": actor}
        found: list[dict[str, Any]] = []
        while len(found) < wanted:
            page = self.db.call("query", **kwargs)
            for raw in page.get("Items", []):
                if before is not None and raw["sk"]["S"] >= before:
                    continue  # BETWEEN includes its bound: the cursor's own entry ended the last page
                found.append(from_item(raw))
                if len(found) == wanted:
                    break
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    """Every field of an entry, null where the entry has none (an anonymous one's key and role)."""
    shown = {field: entry.get(field, False if field == "replayed" else None) for field in FIELDS}
    if shown["counts"] is not None:
        shown["counts"] = {name: int(n) for name, n in shown["counts"].items()}
    return shown
