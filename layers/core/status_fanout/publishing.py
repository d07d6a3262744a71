"""Render-on-write: turn table changes into the public artifacts in the bucket.

The publisher reads current state from the table rather than trusting stream
images, so duplicate, reordered or replayed stream records render the same
bytes; an object whose bytes did not change is not rewritten (its ETag and
Last-Modified stay put).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from . import public_json
from .models import Incident, IncidentUpdate
from .settings import Settings
from .store import COMPONENTS_PK, Store

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

RECENT_INCIDENTS = 50
JSON_TYPE = "application/json; charset=utf-8"
# Short enough that CloudFront serves a new update within half a minute,
# long enough that a burst of readers costs one origin fetch per edge.
CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30"


@dataclass
class RenderPlan:
    incident_ids: set[str] = field(default_factory=set)
    components: bool = False

    @classmethod
    def from_stream_records(cls, records: Iterable[Mapping[str, Any]]) -> RenderPlan:
        plan = cls()
        for record in records:
            pk = record.get("dynamodb", {}).get("Keys", {}).get("pk", {}).get("S", "")
            if pk.startswith("INC#"):
                plan.incident_ids.add(pk.removeprefix("INC#"))
            elif pk == COMPONENTS_PK:
                plan.components = True
        return plan

    def __bool__(self) -> bool:
        return bool(self.incident_ids) or self.components


class Publisher:
    def __init__(self, store: Store, settings: Settings, s3: S3Client | None = None) -> None:
        self.store = store
        self.settings = settings
        self._s3 = s3

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = boto3.client("s3")
        return self._s3

    def publish(self, plan: RenderPlan) -> dict[str, bool]:
        """Render what the plan touches; returns {key: written} for each artifact rendered."""
        if not plan:
            return {}
        components = {c.id: c for c in self.store.list_components()}
        unresolved = self._with_updates(self.store.list_unresolved())
        recent = self._with_updates(self.store.list_incidents(RECENT_INCIDENTS)[0]) if plan.incident_ids else []
        touched = [loaded for i in sorted(plan.incident_ids) if (loaded := self.store.load_incident(i))]

        stamps = [c.updated_at for c in components.values()]
        stamps += [i.updated_at for i, _ in [*unresolved, *recent, *touched]]
        page = public_json.page_object(self.settings, max(stamps) if stamps else None)
        status = public_json.status_object(components.values(), (i for i, _ in unresolved))

        def incidents(pairs: list[tuple[Incident, list[IncidentUpdate]]]) -> list[dict[str, Any]]:
            return [public_json.incident_object(i, u, components, self.settings) for i, u in pairs]

        documents: dict[str, Any] = {
            "api/v2/status.json": {"page": page, "status": status},
            "api/v2/summary.json": {
                "page": page,
                "components": public_json.component_objects(components.values(), page["id"]),
                "incidents": incidents(unresolved),
                "scheduled_maintenances": [],
                "status": status,
            },
        }
        if plan.components:
            documents["api/v2/components.json"] = {
                "page": page, "components": public_json.component_objects(components.values(), page["id"])
            }
        if plan.incident_ids:
            documents["api/v2/incidents.json"] = {"page": page, "incidents": incidents(recent)}
            documents["api/v2/incidents/unresolved.json"] = {"page": page, "incidents": incidents(unresolved)}
            for incident, updates in touched:
                documents[f"api/v2/incidents/{incident.id}.json"] = {
                    "page": page, "incident": public_json.incident_object(incident, updates, components, self.settings)
                }
        return {key: self.write(key, public_json.dumps(doc), JSON_TYPE) for key, doc in documents.items()}

    def _with_updates(self, heads: list[Incident]) -> list[tuple[Incident, list[IncidentUpdate]]]:
        return [loaded for head in heads if (loaded := self.store.load_incident(head.id))]

    def write(self, key: str, body: bytes, content_type: str) -> bool:
        """Put the object unless the bucket already holds these exact bytes."""
        etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        try:
            current = self.s3.head_object(Bucket=self.settings.public_bucket, Key=key)
            if current.get("ETag") == etag:
                return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise
        self.s3.put_object(
            Bucket=self.settings.public_bucket, Key=key, Body=body,
            ContentType=content_type, CacheControl=CACHE_CONTROL,
        )
        return True
