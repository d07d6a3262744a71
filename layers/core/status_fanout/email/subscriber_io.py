"""Email subscribers in bulk: `POST /v1/subscribers/import` and
`GET /v1/subscribers/export` (docs/subscriber-import.md).

Import reads every row first (CSV or JSON) and reports each bad one by its
line; the good ones are created in transactions of up to 100 items whose
address keys are put on `attribute_not_exists` (SubscriberStore.create_new):
an address already present is never duplicated, and the subscriber holding
it is kept as it is (merged). A new row that is not confirmed gets the
confirmation mail through the email queue, as `POST /v1/subscriptions` does:
one `subscribe` job each, which the email sender turns into the mail at the
account's send rate and the per-address limit.

Export pages through the staff index of subscribers, oldest first, and writes
CSV (cells a spreadsheet would run as a formula are prefixed with `'`) or
JSON in the shape import reads back.
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from status_fanout.dynamo import encode_cursor
from status_fanout.email.store import ADDRESS_SK, STATES, Subscriber, address_pk, state_filter
from status_fanout.email.tokens import address_key
from status_fanout.errors import InvalidFieldError, MalformedRequestError, PayloadTooLargeError
from status_fanout.incidents.lifecycle import new_id
from status_fanout.publishing.public_json import dumps
from status_fanout.timefmt import format_ts, parse_ts

if TYPE_CHECKING:
    from status_fanout.email.subscriptions import SubscriptionService

CSV_TYPE = "text/csv"
COLUMNS = ("email", "components", "state", "created")
CONFIRMED_ELSEWHERE = "confirmed_elsewhere"
# 10,000 rows fit API Gateway's 29 s (bench/subscriber_import.py); the body's
# own limit is the API's (http_errors.ROUTE_MAX_REQUEST_BYTES).
MAX_IMPORT_ROWS = 10_000
# Rows not reached by then are reported, not dropped: importing the file again finishes them.
IMPORT_SECONDS = 24.0
IMPORT_WORKERS = 8
TRANSACTION_ITEMS = 100
# An export answer stays under Lambda's 6 MB response payload; past either
# bound the answer carries the cursor of the rest.
EXPORT_MAX_ROWS = 50_000
EXPORT_MAX_BYTES = 5_000_000
# A cell starting with one of these is a formula to Excel, LibreOffice or Sheets (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_SUBSCRIBED_COMPONENTS = 48  # as subscriptions.MAX_SUBSCRIBED_COMPONENTS (one transaction)
ImportState = Literal["pending", "confirmed", "unsubscribed", "suppressed"]


# --- the request models (the OpenAPI document shows these) ---------------------------

class ImportSubscriber(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    email: str
    components: list[str] = Field(default_factory=list, description="component ids; empty = every component")
    state: ImportState | None = Field(default=None, description="empty = pending (the opt-in mail is sent)")
    created: str | None = Field(default=None, description="RFC 3339; empty = now")


class ImportRequest(BaseModel):
    """The JSON body. Each subscriber is checked on its own: a bad one is reported by
    its position ("line" 1 is the first), the others are imported."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    consent: Literal["confirmed_elsewhere"] | None = None
    subscribers: Annotated[list[ImportSubscriber], Field(max_length=MAX_IMPORT_ROWS)]
    next_cursor: str | None = Field(default=None, description="ignored: an export can be posted back as it is")


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    consent: Literal["confirmed_elsewhere"] | None = Field(
        default=None, description="rows may be imported confirmed only with confirmed_elsewhere")


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    format: Literal["csv", "json"] | None = Field(default=None, description="csv (default) or json; "
                                                  "else the Accept header decides")
    state: str | None = Field(default=None, description="pending, confirmed, unsubscribed or suppressed")
    limit: int = Field(default=EXPORT_MAX_ROWS, ge=1, le=EXPORT_MAX_ROWS)
    cursor: str | None = None

    _state = field_validator("state")(state_filter)


# --- reading the file ---------------------------------------------------------------

@dataclass
class Row:
    line: int
    email: str
    components: list[str]
    state: str
    created: str | None


@dataclass
class Report:
    imported: int = 0
    merged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    opt_in_sent: int = 0

    def reject(self, line: int, field_name: str, message: str) -> None:
        self.rejected.append({"line": line, "field": field_name, "message": message})

    def body(self) -> dict[str, Any]:
        return {"imported": self.imported, "merged": self.merged,
                "rejected": sorted(self.rejected, key=lambda r: r["line"]), "opt_in_sent": self.opt_in_sent}


def unescape_formula(cell: str) -> str:
    """Undo export's guard, so an exported file imports the addresses it came from."""
    return cell[1:] if cell.startswith("'") and cell[1:2] in FORMULA_STARTS and cell[1:2] else cell


def escape_formula(cell: str) -> str:
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def check_row(line: int, values: dict[str, Any], known: set[str], now: datetime, report: Report) -> Row | None:
    """The row, or None after reporting its first bad field."""
    from status_fanout.email.subscriptions import ADDRESS

    email = values.get("email")
    if not isinstance(email, str) or not ADDRESS.match(email := unescape_formula(email.strip())) \
            or len(email) > 254:
        report.reject(line, "email", "must be an email address like name@example.com")
        return None
    components = values.get("components") or []
    if isinstance(components, str):
        components = [c.strip() for c in components.split(";") if c.strip()]
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        report.reject(line, "components", "must be a list of component ids")
        return None
    components = list(dict.fromkeys(components))
    unknown = [c for c in components if c not in known]
    if unknown:
        report.reject(line, "components", f"unknown component {unknown[0][:64]!r}")
        return None
    if len(components) > MAX_SUBSCRIBED_COMPONENTS:
        report.reject(line, "components", f"at most {MAX_SUBSCRIBED_COMPONENTS} components")
        return None
    state = values.get("state") or "pending"
    if not isinstance(state, str) or state.strip().lower() not in STATES:
        report.reject(line, "state", f"must be empty or one of {', '.join(STATES)}")
        return None
    created = values.get("created") or None
    if created is not None:
        try:
            when = parse_ts(str(created).strip())
        except (ValueError, TypeError):
            report.reject(line, "created", "must be an RFC 3339 time with a zone, like 2024-05-01T12:00:00Z")
            return None
        if when > now:
            report.reject(line, "created", "is in the future")
            return None
        created = format_ts(when)
    return Row(line, email, components, state.strip().lower(), created)


def read_csv(text: str, known: set[str], now: datetime, report: Report) -> list[Row]:
    """The rows of a CSV body with a header row (line 1); blank lines are skipped."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidFieldError("body", "the CSV is empty; its first line names the columns "
                                            "(email,components,state,created)")
        columns = [h.strip().lower() for h in header]
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown or "email" not in columns or len(set(columns)) < len(columns):
            raise InvalidFieldError("header", "line 1 names the columns: email and any of components, state, "
                                              f"created, each once (found {','.join(columns)[:200]!r})")
        rows: list[Row] = []
        line = reader.line_num + 1
        for record in reader:
            if any(cell.strip() for cell in record):
                if len(rows) + len(report.rejected) >= MAX_IMPORT_ROWS:
                    raise PayloadTooLargeError(f"at most {MAX_IMPORT_ROWS} rows per import; split the file",
                                               [{"field": "body"}])
                if len(record) > len(columns):
                    report.reject(line, "row", f"has {len(record)} cells; the header names {len(columns)}")
                else:
                    row = check_row(line, dict(zip(columns, record, strict=False)), known, now, report)
                    if row:
                        rows.append(row)
            line = reader.line_num + 1
    except csv.Error as exc:
        raise MalformedRequestError(f"the CSV is malformed at line {reader.line_num}: {exc}",
                                    [{"field": "body", "line": reader.line_num}]) from exc
    return rows


def read_json(text: str, known: set[str], now: datetime, report: Report) -> tuple[list[Row], str | None]:
    """The rows of a JSON body and its consent: `{"consent"?, "subscribers": [...]}`
    (what an export writes), or the bare list (SPEC §12's "JSON list"; its
    consent comes in the query)."""
    try:
        data = json.loads(text or "")
    except ValueError as exc:
        raise MalformedRequestError("the request body is not valid JSON (send CSV with Content-Type: text/csv)",
                                    [{"field": "body"}]) from exc
    if isinstance(data, list):
        data = {"subscribers": data}
    if not isinstance(data, dict) or not isinstance(data.get("subscribers"), list):
        raise InvalidFieldError("subscribers", 'the body is a list of subscribers, or '
                                '{"consent"?: ..., "subscribers": [{"email": ...}, ...]}')
    extra = sorted(set(data) - {"consent", "subscribers", "next_cursor"})
    if extra:
        raise InvalidFieldError(str(extra[0])[:64], "unknown field")
    consent = data.get("consent")
    if consent is not None and consent != CONFIRMED_ELSEWHERE:
        raise InvalidFieldError("consent", f"must be {CONFIRMED_ELSEWHERE} or absent")
    items = data["subscribers"]
    if len(items) > MAX_IMPORT_ROWS:
        raise PayloadTooLargeError(f"at most {MAX_IMPORT_ROWS} subscribers per import; split the list",
                                   [{"field": "subscribers"}])
    rows: list[Row] = []
    for line, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            report.reject(line, "row", "must be an object with an email")
            continue
        unknown = [k for k in item if k not in COLUMNS]
        if unknown:
            report.reject(line, str(unknown[0])[:64], "unknown field")
            continue
        row = check_row(line, item, known, now, report)
        if row:
            rows.append(row)
    return rows, consent


# --- import -------------------------------------------------------------------------

def _chunks(service: SubscriptionService, subscribers: list[tuple[Row, Subscriber]]
            ) -> Iterator[list[tuple[Row, Subscriber]]]:
    """Runs of subscribers whose creation fits one transaction."""
    chunk: list[tuple[Row, Subscriber]] = []
    size = 0
    for pair in subscribers:
        needed = service.subscribers.creation_size(pair[1])
        if chunk and size + needed > TRANSACTION_ITEMS:
            yield chunk
            chunk, size = [], 0
        chunk.append(pair)
        size += needed
    if chunk:
        yield chunk


def import_subscribers(service: SubscriptionService, text: str, is_csv: bool, consent: str | None,
                       seconds: float = IMPORT_SECONDS) -> Report:
    """Import the body; the report of what became of every row. Rows whose
    transaction has not started after `seconds` are reported, not written."""
    now_dt = service.clock()
    now = format_ts(now_dt)
    report = Report()
    known = {c.id for c in service.store.list_components()}
    if is_csv:
        rows = read_csv(text, known, now_dt, report)
    else:
        rows, body_consent = read_json(text, known, now_dt, report)
        if body_consent and consent and body_consent != consent:
            raise InvalidFieldError("consent", "the query and the body disagree")
        consent = consent or body_consent
    deadline = time.monotonic() + seconds
    secret = service.secret

    first_line: dict[str, int] = {}
    new: list[tuple[Row, Subscriber]] = []
    needs_consent: list[tuple[Row, str]] = []  # confirmed rows without consent: merged if present, else reported
    for row in rows:
        key = address_key(secret, row.email)
        if key in first_line:
            report.reject(row.line, "email", f"the same address as line {first_line[key]}")
            continue
        first_line[key] = row.line
        if row.state == "confirmed" and consent != CONFIRMED_ELSEWHERE:
            needs_consent.append((row, key))
            continue
        new.append((row, _subscriber(row, key, now, consent)))
    queue_url = service.settings.email.queue_url
    if any(s.state == "pending" for _, s in new) and not queue_url:
        raise RuntimeError("no email queue configured")

    taken: dict[str, tuple[Row, str]] = {}  # address key -> (row, id of the subscriber holding it)

    def create(chunk: list[tuple[Row, Subscriber]]) -> tuple[int, int]:
        if time.monotonic() > deadline:
            for row, _ in chunk:
                report.reject(row.line, "row", "not reached in time; import the file again (rows already "
                                               "imported merge)")
            return 0, 0
        created, held = service.subscribers.create_new([s for _, s in chunk])
        rows_by_key = {s.address_key: row for row, s in chunk}
        for key, holder in held.items():
            taken[key] = (rows_by_key[key], holder)
        jobs = [{"kind": "subscribe", "request_id": uuid.uuid4().hex, "email": s.email, "components": s.components}
                for s in created if s.state == "pending"]
        if jobs:
            service.enqueue(queue_url or "", jobs)
        return len(created), len(jobs)

    with ThreadPoolExecutor(IMPORT_WORKERS, thread_name_prefix="import") as pool:
        for created_count, mailed in pool.map(create, list(_chunks(service, new))):
            report.imported += created_count
            report.opt_in_sent += mailed

    if needs_consent:
        holders = service.store.get_many((address_pk(key), ADDRESS_SK) for _, key in needs_consent)
        for row, key in needs_consent:
            item = holders.get((address_pk(key), ADDRESS_SK))
            if item:
                taken[key] = (row, str(item["subscriber_id"]["S"]))
            else:
                report.reject(row.line, "consent", f"state confirmed needs consent={CONFIRMED_ELSEWHERE} (query "
                                                   "parameter, or in the JSON body); leave the state empty to send "
                                                   "the opt-in mail instead")
    existing = service.subscribers.get_many([holder for _, holder in taken.values() if holder])
    for row, holder in taken.values():
        current = existing.get(holder)
        if current is not None and current.state in ("suppressed", "unsubscribed") \
                and row.state in ("pending", "confirmed"):
            why = "bounced or complained" if current.state == "suppressed" else "unsubscribed"
            report.reject(row.line, "email", f"this address {why}; an import never subscribes it again")
        else:
            report.merged += 1
    return report


def _subscriber(row: Row, key: str, now: str, consent: str | None) -> Subscriber:
    state = row.state
    return Subscriber(
        id=new_id(), email=row.email, address_key=key, components=row.components, state=state,  # type: ignore[arg-type]
        created_at=row.created or now, updated_at=now, imported_at=now,
        confirmed_at=now if state == "confirmed" else None,
        consent=consent if state == "confirmed" else None,
        unsubscribed_at=now if state == "unsubscribed" else None,
        suppressed_at=now if state == "suppressed" else None,
        suppressed_reason="imported" if state == "suppressed" else None)


# --- export -------------------------------------------------------------------------

@dataclass
class Export:
    body: str
    content_type: str
    next_cursor: str | None


def export_subscribers(service: SubscriptionService, query: ExportQuery, as_json: bool) -> Export:
    rows, cursor = service.subscribers.export_page(query.state, query.limit, query.cursor)
    size = 0
    kept = len(rows)
    for n, row in enumerate(rows):
        size += len(row["email"]) + sum(len(c) + 1 for c in row["components"]) + len(row["state"]) + 40
        if size > EXPORT_MAX_BYTES:
            kept = n
            break
    if kept < len(rows):
        cursor = encode_cursor(rows[kept - 1]["_key"])
        rows = rows[:kept]
    if as_json:
        body = dumps({"subscribers": [{k: r[k] for k in COLUMNS} for r in rows], "next_cursor": cursor}).decode()
        return Export(body, "application/json", cursor)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([escape_formula(r["email"]), ";".join(r["components"]), r["state"], r["created"]]
                     for r in rows)
    return Export(out.getvalue(), f"{CSV_TYPE}; charset=utf-8", cursor)

