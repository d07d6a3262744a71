"""Human output: Rich tables of what the API answered.

Every string from the API goes through `safe` into a `Text`, never into Rich
markup: an incident named `[link=…]` or holding terminal escape sequences is
shown as typed, and cannot restyle, retitle or clear the reader's terminal.
"""

from __future__ import annotations

import re
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

# C0 controls but tab and newline, DEL, and C1 controls (ESC-less CSI and OSC).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

STATUS_STYLES = {
    "operational": "green", "degraded_performance": "yellow", "partial_outage": "dark_orange",
    "major_outage": "red", "under_maintenance": "blue",
    "investigating": "red", "identified": "dark_orange", "monitoring": "yellow", "resolved": "green",
    "scheduled": "blue", "in_progress": "blue", "verifying": "yellow", "completed": "green",
    "critical": "red", "major": "dark_orange", "minor": "yellow", "none": "dim", "maintenance": "blue",
    "admin": "red", "responder": "yellow", "viewer": "dim",
}


def safe(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def cell(value: Any, style: str | None = None) -> Text:
    text = safe(value)
    return Text(text, style=style if style is not None else STATUS_STYLES.get(text, ""))


# Free text takes the room left; an id is never cut or wrapped (a cut id is useless).
WRAPPING = {"name", "text", "title", "message", "components", "path", "field"}
WHOLE = {"id", "key id", "request id"}
MIN_WIDTH = {"status": len("investigating"), "impact": len("critical")}
RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", header_style="bold")
    for column in columns:
        if column in WRAPPING:
            table.add_column(column, ratio=1, min_width=12, overflow="fold")
        else:
            table.add_column(column, no_wrap=column in WHOLE,
                             min_width=max(len(column), MIN_WIDTH.get(column, 0)), overflow="fold")
    return table


def when(value: Any) -> Text:
    """A time as people scan it in a table: `2018-08-30 22:18Z` (the API's UTC)."""
    text = safe(value)
    match = RFC3339.match(text)
    return Text(f"{match[1]} {match[2]}{'Z' if match[5] == 'Z' else match[5]}" if match else text)


def incidents(items: list[dict[str, Any]]) -> Table:
    table = _table("id", "status", "impact", "name", "started", "resolved")
    for item in items:
        table.add_row(cell(item.get("id")), cell(item.get("status")), cell(item.get("impact")),
                      cell(item.get("name"), ""), when(item.get("started_at")), when(item.get("resolved_at")))
    return table


def incident(item: dict[str, Any]) -> RenderableType:
    """One incident (or maintenance): its fields, then every update, newest first."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    fields = ["id", "name", "status", "impact", "started_at", "monitoring_at", "resolved_at",
              "scheduled_for", "scheduled_until", "shortlink", "postmortem_published_at"]
    for name in fields:
        if item.get(name) is not None:
            head.add_row(name, cell(item[name]))
    components = item.get("components") or []
    if components:
        head.add_row("components", Text(", ").join(
            Text.assemble(cell(c.get("name"), ""), " ", cell(c.get("status"))) for c in components))
    updates = _table("shown at", "status", "text", "components", title="updates")
    for update in item.get("incident_updates") or []:
        affected = update.get("affected_components") or []
        updates.add_row(when(update.get("display_at")), cell(update.get("status")), cell(update.get("body"), ""),
                        cell("\n".join(f"{safe(a.get('code'))}={safe(a.get('new_status'))}" for a in affected), ""))
    parts: list[RenderableType] = [head, updates]
    if item.get("postmortem_body"):
        parts += [Text("postmortem", style="bold"), cell(item["postmortem_body"], "")]
    return Group(*parts)


def components(items: list[dict[str, Any]]) -> Table:
    table = _table("id", "name", "group", "status", "position")
    for item in items:
        if item.get("group") is True:
            continue  # a Statuspage group component; its members carry the group's name
        table.add_row(cell(item.get("id")), cell(item.get("name"), ""), cell(item.get("group_id"), ""),
                      cell(item.get("status")), cell(item.get("position"), ""))
    return table


def maintenances(items: list[dict[str, Any]]) -> Table:
    table = _table("id", "status", "name", "from", "until", "components")
    for item in items:
        names = ", ".join(safe(c.get("name") or c.get("id")) for c in item.get("components") or [])
        table.add_row(cell(item.get("id")), cell(item.get("status")), cell(item.get("name"), ""),
                      when(item.get("scheduled_for")), when(item.get("scheduled_until")), cell(names, ""))
    return table


def templates(items: list[dict[str, Any]]) -> Table:
    table = _table("id", "name", "title", "status", "impact")
    for item in items:
        table.add_row(cell(item.get("template_id") or item.get("id")), cell(item.get("name"), ""),
                      cell(item.get("title"), ""), cell(item.get("status")), cell(item.get("impact")))
    return table


def keys(items: list[dict[str, Any]]) -> Table:
    table = _table("key id", "name", "role", "created", "last used")
    for item in items:
        table.add_row(cell(item.get("key_id") or item.get("id")), cell(item.get("name"), ""), cell(item.get("role")),
                      when(item.get("created_at")), when(item.get("last_used_at") or "never"))
    return table


AUDIT_COLUMNS = (("time", "at"), ("actor", "actor"), ("role", "role"), ("method", "method"), ("path", "path"),
                 ("target", "target_id"), ("status", "status"), ("request id", "request_id"),
                 ("source ip", "source_ip"))


def audit(items: list[dict[str, Any]]) -> Table:
    table = _table(*(title for title, _ in AUDIT_COLUMNS))
    for item in items:
        row = []
        for _, name in AUDIT_COLUMNS:
            value = item.get(name)
            value = "" if value is None else value
            if name == "at":
                row.append(when(value))
            else:
                row.append(cell(value, "red" if name == "status" and str(value)[:1] in "45" else ""))
        table.add_row(*row)
    return table


def import_report(report: dict[str, Any]) -> RenderableType:
    counts = ", ".join(f"{name} {value}" for name, value in report.items() if isinstance(value, int))
    rejected = report.get("rejected") or []
    summary = Text(f"{counts}, rejected {len(rejected)}")
    if not rejected:
        return summary
    table = _table("line", "field", "message", title="rejected rows")
    for row in rejected:
        if isinstance(row, dict):
            table.add_row(cell(row.get("line"), ""), cell(row.get("field"), ""), cell(row.get("message"), ""))
        else:
            table.add_row("", "", cell(row, ""))
    return Group(summary, table)
