"""Staff keys (SPEC §12, docs/staff-keys.md): named bearer keys with a role,
minted by an admin, shown once, stored only as SHA-256 digests in the single
table (docs/data-model.md, "Staff keys"), looked up by digest and revoked at once.

A container remembers a key it looked up for `CACHE_SECONDS`, so a burst of
requests with one key reads the table once; a revoked key is refused by every
container at most that long after the DELETE (at once by the container that
served it). `last_used_at` is written at most once per `TOUCH_SECONDS` per key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from datetime import timedelta
from typing import Annotated, Any, Literal, NamedTuple

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from status_fanout.api.auth import KEY_PREFIX
from status_fanout.dynamo import Store, VersionConflict, decode_cursor, encode_cursor, from_item, to_item
from status_fanout.errors import ConflictError, NotFoundError
from status_fanout.observability import logger
from status_fanout.timefmt import format_ts, truncate_ms, utcnow

Role = Literal["admin", "responder", "viewer"]
ROLES: tuple[Role, ...] = ("viewer", "responder", "admin")  # each may do what the ones before it may
LIST_GSI1PK = "STAFFKEYS"
# Names an audit entry gives the deploy-time tokens and unauthenticated callers: no key may take them.
RESERVED_NAMES = frozenset({"bootstrap", "anonymous"})
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}$"
CACHE_SECONDS = 5.0
CACHE_SIZE = 1000
TOUCH_SECONDS = 60


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)
    name: Annotated[str, Field(pattern=NAME_PATTERN, description=(
        "Who holds the key (1-64 letters, digits, space, . _ @ + -): audit entries and created_by name it"))]
    role: Annotated[Role, Field(description="admin: everything; responder: incidents, maintenances, "
                                            "components, templates and reads; viewer: reads")]

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower() in RESERVED_NAMES:
            raise ValueError(f"'{value}' is reserved for the audit log")
        return value


class StaffKey(NamedTuple):
    key_id: str
    name: str
    role: Role
    created_at: str
    last_used_at: str | None
    digest: str

    def public(self) -> dict[str, Any]:
        """What GET /v1/keys shows: never the key, nor its digest."""
        return {"key_id": self.key_id, "name": self.name, "role": self.role, "created_at": self.created_at,
                "last_used_at": self.last_used_at}


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_pk(digest: str) -> str:
    return f"KEY#{digest}"


def key_id_pk(key_id: str) -> str:
    return f"KEYID#{key_id}"


def key_name_pk(name: str) -> str:
    return f"KEYNAME#{name.lower()}"


KEY_ID = re.compile(r"^key_[0-9a-f]{16}$")


# What this container looked up: digest -> (when it expires, monotonic; the key).
_cache: dict[str, tuple[float, StaffKey]] = {}
_cache_lock = threading.Lock()


def forget(digest: str | None = None) -> None:
    """Drop one key (a revocation this container served) or all from the cache."""
    with _cache_lock:
        if digest is None:
            _cache.clear()
        else:
            _cache.pop(digest, None)


class StaffKeys:
    def __init__(self, db: Store, clock: Any = utcnow) -> None:
        self.db = db
        self.clock = clock

    # --- the gate ----------------------------------------------------------------------

    def lookup(self, digest: str) -> StaffKey | None:
        """The key whose token hashes to `digest`: GetItem by the digest, then
        the stored digest compared in constant time; cached `CACHE_SECONDS`."""
        now = time.monotonic()
        with _cache_lock:
            cached = _cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        raw = self.db.call("get_item", Key=to_item({"pk": key_pk(digest), "sk": "#KEY"}),
                           ConsistentRead=True).get("Item")
        if raw is None:
            forget(digest)
            return None
        data = from_item(raw)
        if not hmac.compare_digest(str(data.get("digest", "")), digest):
            return None
        key = StaffKey(data["key_id"], data["name"], data["role"], data["created_at"], data.get("last_used_at"),
                       digest)
        key = self._touch(key)
        with _cache_lock:
            if len(_cache) >= CACHE_SIZE:
                _cache.clear()  # tokens are few; a full cache means someone tries many: start over
            _cache[digest] = (now + CACHE_SECONDS, key)
        return key

    def _touch(self, key: StaffKey) -> StaffKey:
        """Record the use if the last recorded one is over `TOUCH_SECONDS` old:
        one conditional UpdateItem, at most once a minute per key whatever the
        traffic (the condition makes concurrent containers write it once)."""
        now = truncate_ms(self.clock())
        stale = format_ts(now - timedelta(seconds=TOUCH_SECONDS))
        if key.last_used_at is not None and key.last_used_at >= stale:
            return key
        stamp = format_ts(now)
        try:
            self.db.call("update_item", Key=to_item({"pk": key_pk(key.digest), "sk": "#KEY"}),
                         UpdateExpression="SET last_used_at = :now",
                         ConditionExpression="attribute_exists(pk) AND "
                                             "(attribute_not_exists(last_used_at) OR last_used_at < :stale)",
                         ExpressionAttributeValues={":now": {"S": stamp}, ":stale": {"S": stale}})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                logger.warning("last_used_at not written", extra={"key_id": key.key_id})
            return key
        except Exception:  # the request is not refused because a timestamp could not be written
            logger.warning("last_used_at not written", extra={"key_id": key.key_id})
            return key
        return key._replace(last_used_at=stamp)

    # --- the routes --------------------------------------------------------------------

    def create(self, request: KeyCreate) -> tuple[StaffKey, str]:
        """Mint a key: its id item (what the audit entry names), its digest item
        (what the gate reads) and its name (unique) in one transaction."""
        token = new_key()
        digest = digest_of(token)
        key_id = "key_" + secrets.token_hex(8)
        created_at = format_ts(truncate_ms(self.clock()))
        key = StaffKey(key_id, request.name, request.role, created_at, None, digest)
        table = self.db.table_name
        new = "attribute_not_exists(pk)"
        items = [
            {"Put": {"TableName": table, "ConditionExpression": new, "Item": to_item(
                {"pk": key_id_pk(key_id), "sk": "#KEYID", "type": "staff_key_id", "id": key_id, "digest": digest,
                 "name": request.name})}},
            {"Put": {"TableName": table, "ConditionExpression": new, "Item": to_item(
                {"pk": key_pk(digest), "sk": "#KEY", "type": "staff_key", "key_id": key_id, "name": request.name,
                 "role": request.role, "created_at": created_at, "digest": digest,
                 "gsi1pk": LIST_GSI1PK, "gsi1sk": f"{created_at}#{key_id}"})}},
            {"Put": {"TableName": table, "ConditionExpression": new, "Item": to_item(
                {"pk": key_name_pk(request.name), "sk": "#KEYNAME", "type": "staff_key_name", "key_id": key_id})}},
        ]
        try:
            self.db.transact(items)
        except VersionConflict as exc:
            # Only the name can exist already: the id and the digest are fresh random values.
            raise ConflictError(f"a key named '{request.name}' exists; revoke it or choose another name",
                                [{"field": "name"}]) from exc
        return key, token

    def list(self, limit: int, cursor: str | None) -> tuple[list[StaffKey], str | None]:
        """Newest first, one page (the gsi1 `STAFFKEYS` partition)."""
        kwargs: dict[str, Any] = {"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p",
                                  "ExpressionAttributeValues": {":p": {"S": LIST_GSI1PK}},
                                  "ScanIndexForward": False, "Limit": limit}
        start = decode_cursor(cursor, ("pk", "sk", "gsi1pk", "gsi1sk"))
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.db.call("query", **kwargs)
        keys = []
        for raw in page.get("Items", []):
            data = from_item(raw)
            keys.append(StaffKey(data["key_id"], data["name"], data["role"], data["created_at"],
                                 data.get("last_used_at"), data["digest"]))
        return keys, encode_cursor(page.get("LastEvaluatedKey"))

    def revoke(self, key_id: str) -> None:
        """Delete the key's items in one transaction: the next request with it
        is refused (here at once; elsewhere once its cache entry expires)."""
        if not KEY_ID.match(key_id):
            raise NotFoundError(f"no key {key_id}")
        raw = self.db.call("get_item", Key=to_item({"pk": key_id_pk(key_id), "sk": "#KEYID"}),
                           ConsistentRead=True).get("Item")
        if raw is None:
            raise NotFoundError(f"no key {key_id}")
        data = from_item(raw)
        table, exists = self.db.table_name, "attribute_exists(pk)"
        try:
            self.db.transact([
                {"Delete": {"TableName": table, "ConditionExpression": exists,
                            "Key": to_item({"pk": key_id_pk(key_id), "sk": "#KEYID"})}},
                {"Delete": {"TableName": table, "Key": to_item({"pk": key_pk(data["digest"]), "sk": "#KEY"})}},
                {"Delete": {"TableName": table, "Key": to_item({"pk": key_name_pk(data["name"]), "sk": "#KEYNAME"})}},
            ])
        except VersionConflict as exc:  # revoked concurrently
            raise NotFoundError(f"no key {key_id}") from exc
        finally:
            forget(data["digest"])

