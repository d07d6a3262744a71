"""Incident templates (docs/templates.md): stored in the single table, and
filled into a request that names one (`POST /v1/incidents`,
`POST /v1/maintenances`) before that request is validated as any other.

A template is `TPL` / `TPL#{template_id}` (docs/data-model.md): all of them in
one partition, so the list is one Query in id order, and one GetItem fills a
request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from status_fanout.dynamo import (
    Store,
    VersionConflict,
    decode_cursor,
    encode_cursor,
    from_item,
    retry_conflicts,
    to_item,
)
from status_fanout.errors import ConflictError, InvalidFieldError, NotFoundError
from status_fanout.incidents.models import SLUG_RULE, TEMPLATE_ID_PATTERN, Template, TemplatePut
from status_fanout.incidents.service import check_components
from status_fanout.incidents.store import IncidentStore
from status_fanout.timefmt import format_ts, truncate_ms, utcnow

TEMPLATES_PK = "TPL"
Kind = Literal["incident", "maintenance"]


def template_sk(template_id: str) -> str:
    return f"TPL#{template_id}"


def filled(request: dict[str, Any], template: Template, kind: Kind) -> dict[str, Any]:
    """The request with the template's fields under it: a field the request
    gives (even as null) is the request's, whole, `components` included; the
    others are the template's. No placeholders: the template's text is used
    as it is. A maintenance takes the title, the body and the components'
    ids; its status follows its schedule, and its impact is `maintenance`."""
    base: dict[str, Any] = {"name": template.title, "body": template.body}
    if kind == "incident":
        base.update({"status": template.status, "impact": template.impact, "components": template.components})
    elif template.components:
        base["components"] = list(template.components)
    return {**{k: v for k, v in base.items() if v is not None}, **request}


class TemplateStore:
    def __init__(self, db: Store) -> None:
        self.db = db

    def get(self, template_id: str) -> tuple[Template, int] | None:
        """The template and its version, or None."""
        item = self.db.call("get_item", Key=to_item({"pk": TEMPLATES_PK, "sk": template_sk(template_id)}),
                            ConsistentRead=True).get("Item")
        if not item:
            return None
        data = from_item(item)
        return Template.model_validate(data), int(data.get("version", 0))

    def save(self, template: Template, version: int) -> None:
        """Put the template, conditional on the version read (0: it must not exist yet)."""
        item = to_item({"pk": TEMPLATES_PK, "sk": template_sk(template.id), "type": "template",
                        "version": version + 1, **template.model_dump()})
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if version:
            condition = {"ConditionExpression": "version = :v",
                         "ExpressionAttributeValues": {":v": {"N": str(version)}}}
        self.db.transact([{"Put": {"TableName": self.db.table_name, "Item": item, **condition}}])

    def delete(self, template_id: str) -> bool:
        """Delete the template; False if there was none. A transaction of one
        Delete, so a staff request's audit entry lands with it (Store.transact)."""
        key = to_item({"pk": TEMPLATES_PK, "sk": template_sk(template_id)})
        try:
            self.db.transact([{"Delete": {"TableName": self.db.table_name, "Key": key,
                                          "ConditionExpression": "attribute_exists(pk)"}}])
        except VersionConflict as exc:
            if exc.reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise ConflictError("the template changed concurrently; retry") from exc
        return True

    def page(self, limit: int, cursor: str | None) -> tuple[list[Template], str | None]:
        """Templates in id order, one page."""
        kwargs: dict[str, Any] = {"KeyConditionExpression": "pk = :p",
                                  "ExpressionAttributeValues": {":p": {"S": TEMPLATES_PK}}, "Limit": limit}
        start = decode_cursor(cursor, ("pk", "sk"))
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.db.call("query", **kwargs)
        found = [Template.model_validate(from_item(i)) for i in page.get("Items", [])]
        return found, encode_cursor(page.get("LastEvaluatedKey"))


class TemplateService:
    def __init__(self, store: IncidentStore, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.templates = TemplateStore(store)
        self.clock = clock

    def put(self, template_id: str, request: TemplatePut) -> tuple[Template, bool]:
        """Create or replace; True when it was created. Its components must
        exist now (422 naming the unknown one), as an incident's must."""
        check_components(self.store, list(request.components or {}))

        def write() -> tuple[Template, bool]:
            now = format_ts(truncate_ms(self.clock()))
            existing = self.templates.get(template_id)
            template = Template(id=template_id, created_at=existing[0].created_at if existing else now,
                                updated_at=now, **request.model_dump())
            self.templates.save(template, existing[1] if existing else 0)
            return template, existing is None

        return retry_conflicts(write, "the template")

    def get(self, template_id: str) -> Template:
        found = self.templates.get(template_id)
        if found is None:
            raise NotFoundError(f"no template {template_id}")
        return found[0]

    def page(self, limit: int, cursor: str | None) -> tuple[list[Template], str | None]:
        return self.templates.page(limit, cursor)

    def delete(self, template_id: str) -> None:
        if not self.templates.delete(template_id):
            raise NotFoundError(f"no template {template_id}")

    def fill(self, request: dict[str, Any], kind: Kind) -> dict[str, Any]:
        """The request with its template's fields filled in (docs/templates.md);
        as it is when it names none. 422 naming `template` when the id is no
        template's."""
        template_id = request.get("template")
        if template_id is None:
            return request
        if not isinstance(template_id, str) or not re.match(TEMPLATE_ID_PATTERN, template_id):
            raise InvalidFieldError("template", SLUG_RULE)
        found = self.templates.get(template_id)
        if found is None:
            raise InvalidFieldError("template", "no such template")
        return filled(request, found[0], kind)

