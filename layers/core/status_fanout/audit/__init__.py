"""The audit log's request context (docs/staff-keys.md, "Audit log").

The API's staff gate opens an `AuditContext` for each staff request and sets
it as `CURRENT`; the table layer (`Store.transact`) adds the request's audit
entry to the first transaction that commits while the context is open, so a
change never lands without its entry. What no transaction wrote (reads that
were refused, writes that failed, writes that are not transactions) the gate
writes after the route answered: exactly one entry per audited request.

Stdlib only: the table layer imports it on every cold start.
"""

from __future__ import annotations

import secrets
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

# Kept 400 days (SPEC §12), then DynamoDB's TTL (`expires_at`) removes them.
RETENTION_SECONDS = 400 * 86400
PK_PREFIX = "AUDIT#"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Who made a request that proved no identity (401), and the deploy-time tokens.
ANONYMOUS = "anonymous"
BOOTSTRAP = "bootstrap"
# Longest path and header-derived values an entry keeps: an attacker's 401s
# cannot make entries large.
MAX_FIELD = 512
# What an entry says, in the order the API shows it.
FIELDS = ("at", "actor", "key_id", "role", "method", "path", "target_id", "status", "request_id", "source_ip",
          "replayed", "counts")


class Principal(NamedTuple):
    """Who a staff request is: the key's name (`bootstrap` for a deploy-time
    token), its id (None for those), and its role."""

    actor: str
    key_id: str | None
    role: str


def audit_pk(at: str) -> str:
    """One partition per month (`AUDIT#2026-12`): the log reads newest first
    month by month, and a month takes at most the API's throttle (50 requests/s)."""
    return PK_PREFIX + at[:7]


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:MAX_FIELD]


class AuditContext:
    """One staff request, as its audit entry will tell it."""

    def __init__(self, method: str, path: str, request_id: str | None, source_ip: str | None,
                 target: str | None = None) -> None:
        self.at = _now()
        self.method = method.upper()
        self.path = _clip(path) or ""
        # API Gateway's requestContext.requestId; a made-up one keeps the key unique without it.
        self.request_id = _clip(request_id) or f"local-{secrets.token_hex(16)}"
        self.source_ip = _clip(source_ip)
        self.target = _clip(target)
        self.principal: Principal | None = None
        # The status the route answers with when it succeeds: what an entry
        # written inside the change's transaction records.
        self.expected_status = 200
        # The status recorded by the transaction that wrote the entry, if one did.
        self.written_status: int | None = None
        # An Idempotency-Key replay: the first response again, nothing changed.
        self.replayed = False
        # What a bulk write did, by name (an import: imported, merged, rejected), set by its route.
        self.counts: dict[str, int] | None = None

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def pk(self) -> str:
        return audit_pk(self.at)

    @property
    def sk(self) -> str:
        return f"{self.at}#{self.request_id}"

    def entry(self, status: int, target: str | None = None) -> dict[str, Any]:
        """The entry as the API shows it."""
        principal = self.principal
        return {
            "at": self.at,
            "actor": principal.actor if principal else ANONYMOUS,
            "key_id": principal.key_id if principal else None,
            "role": principal.role if principal else None,
            "method": self.method,
            "path": self.path,
            "target_id": target or self.target,
            "status": status,
            "request_id": self.request_id,
            "source_ip": self.source_ip,
            "replayed": self.replayed,
            "counts": self.counts,
        }

    def item(self, status: int, target: str | None = None) -> dict[str, Any]:
        """The entry as a DynamoDB item (low-level attribute values)."""
        item: dict[str, Any] = {"pk": {"S": self.pk}, "sk": {"S": self.sk}, "type": {"S": "audit"},
                                "expires_at": {"N": str(int(time.time()) + RETENTION_SECONDS)}}
        for name, value in self.entry(status, target).items():
            if value is None:
                continue
            if isinstance(value, bool):
                item[name] = {"BOOL": value}
            elif isinstance(value, dict):
                item[name] = {"M": {k: {"N": str(n)} for k, n in value.items()}}
            elif isinstance(value, int):
                item[name] = {"N": str(value)}
            else:
                item[name] = {"S": value}
        return item

    def put(self, table_name: str, status: int, target: str | None = None) -> dict[str, Any]:
        """A Put of the entry; never over an existing one (entries are never changed)."""
        return {"Put": {"TableName": table_name, "Item": self.item(status, target),
                        "ConditionExpression": "attribute_not_exists(pk)"}}


class Table(Protocol):
    """What writing an entry needs of the table (status_fanout.dynamo.Store)."""

    table_name: str

    def call(self, operation: str, **kwargs: Any) -> Any: ...


def record(db: Table, context: AuditContext, status: int) -> None:
    """Write the entry of a request no transaction wrote one for (one PutItem).
    A failure is logged, not raised: the request's own answer stands."""
    put = context.put(db.table_name, status)["Put"]
    try:
        db.call("put_item", Item=put["Item"], ConditionExpression=put["ConditionExpression"])
    except Exception:  # the entry is lost, loudly; the request's answer is not
        from status_fanout.observability import logger

        logger.exception("audit entry not written", extra={"audit": context.entry(status)})


def correct_status(db: Table, context: AuditContext, status: int) -> None:
    """The route answered otherwise than the transaction's entry foresaw (a
    PUT that replaced, 200, not created, 201; a failure after the commit), or
    told what its bulk write did after the entry's transaction (`counts`): say so."""
    update, names, values = "SET #s = :s", {"#s": "status"}, {":s": {"N": str(status)}}
    if context.counts is not None:
        update += ", #c = :c"
        names["#c"], values[":c"] = "counts", context.item(status)["counts"]
    try:
        db.call("update_item", Key={"pk": {"S": context.pk}, "sk": {"S": context.sk}},
                UpdateExpression=update, ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    except Exception:  # as in record
        from status_fanout.observability import logger

        logger.exception("audit entry status not corrected", extra={"audit": context.entry(status)})


CURRENT: ContextVar[AuditContext | None] = ContextVar("status_fanout_audit", default=None)


def current_actor() -> str | None:
    """Who the staff request being served is (None outside one: the maintenance clock, a replay tool)."""
    context = CURRENT.get()
    return context.principal.actor if context is not None and context.principal is not None else None


def note_counts(**counts: int) -> None:
    """What the bulk write of the staff request being served did (an import's
    rows): its one entry says it, however many transactions the write took."""
    context = CURRENT.get()
    if context is not None:
        context.counts = counts


def pending_entry() -> AuditContext | None:
    """The open context whose entry a transaction should carry: an authenticated
    staff write whose entry no transaction has written yet."""
    context = CURRENT.get()
    if context is None or context.principal is None or not context.is_write or context.written_status is not None:
        return None
    return context


def transaction_entry(items: list[dict[str, Any]], table_name: str) -> tuple[AuditContext, dict[str, Any]] | None:
    """The pending entry as one more write of the transaction of `items`, or
    None when no entry is pending. A create (201) names what it made: the `id`
    of the first item the transaction puts (the incident or maintenance head);
    a bulk write (an import, 200) names nothing of the many it writes."""
    context = pending_entry()
    if context is None:
        return None
    target = context.target
    if target is None and context.expected_status == 201:
        first: dict[str, Any] = next((op["Put"]["Item"] for op in items if "Put" in op), {})
        target = _clip(first.get("id", {}).get("S"))
    return context, context.put(table_name, context.expected_status, target)


def committed(context: AuditContext, put: dict[str, Any]) -> None:
    """The transaction carrying `put` committed: the gate must not write the entry again."""
    item = put["Put"]["Item"]
    context.target = item.get("target_id", {}).get("S")
    context.written_status = int(item["status"]["N"])
