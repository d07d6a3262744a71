"""The staff CLI's commands (docs/cli.md, docs/contract.md §12), on Typer.

Each command turns its flags into one API request (a few for `update` without
`--status`, `resolve --operational`, paged lists and chunked imports), prints
the answer as Rich tables, or with `--json` exactly the API's JSON, and exits
non-zero with the API's error message when the API refuses.

Exit status: 0 done; 1 the API answered an error (or an import rejected rows);
2 bad usage (nothing sent); 3 the API could not be reached.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from status_fanout_cli import imports, inputs, render
from status_fanout_cli.client import ApiError, Client, Reply, Unreachable, list_items, new_idempotency_key
from status_fanout_cli.entry import LOCAL_COMMANDS

EXIT_API_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
RESOLVED_BODY = "This incident has been resolved."
PIPED_WIDTH = 200
VISIBLE_ASCII = re.compile(r"[\x21-\x7e]{1,255}")

IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
Impact = Literal["none", "minor", "major", "critical"]
Role = Literal["admin", "responder", "viewer"]
MaintenanceFilter = Literal["upcoming", "active", "completed"]
SubscriberState = Literal["pending", "confirmed", "unsubscribed", "suppressed"]
Consent = Literal["confirmed_elsewhere"]

# --- the options every command shares -----------------------------------------

CONNECTION = "Connection"
ApiOption = Annotated[str | None, typer.Option(
    "--api", envvar="STATUS_FANOUT_API", show_default=False, rich_help_panel=CONNECTION,
    help="Base URL of the staff API, e.g. https://abc.execute-api.us-east-1.amazonaws.com/Prod")]
TokenOption = Annotated[str | None, typer.Option(
    "--token", envvar="STATUS_FANOUT_TOKEN", show_default=False, rich_help_panel=CONNECTION,
    help="Staff token or key (prefer the variable: a flag shows in the process list)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly the API's JSON (for scripts)")]
BodyOption = Annotated[str | None, typer.Option(
    "--body", "-b", show_default=False, help="The text; '-' reads stdin (so does a pipe, when no body is given)")]
BodyFileOption = Annotated[Path | None, typer.Option(
    "--body-file", "-f", show_default=False, help="Read the text from this file ('-': stdin)")]
ComponentsOption = Annotated[list[str] | None, typer.Option(
    "--component", "-c", show_default=False, metavar="ID=STATUS",
    help="A component's new status, e.g. smtp-email=major_outage (repeatable)")]
NotifyOption = Annotated[bool, typer.Option(
    "--notify/--no-notify", help="Notify subscribers (--no-notify: page, feeds and JSON only)")]
DisplayAtOption = Annotated[str | None, typer.Option(
    "--display-at", show_default=False,
    help="Backfill at this past time (RFC 3339, or -2h): shown then, notifies nobody")]
KeyOption = Annotated[str | None, typer.Option(
    "--idempotency-key", show_default=False,
    help="Idempotency-Key of the POST (default: a new one per run); reuse one to make a retry post nothing twice")]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many items")]
AllOption = Annotated[bool, typer.Option("--all", help="Every item, page after page (ignores --limit)")]
CursorOption = Annotated[str | None, typer.Option(
    "--cursor", show_default=False, help="Start at this next_cursor of an earlier list")]

app = typer.Typer(name="status-fanout", no_args_is_help=True, add_completion=True,
                  help="The staff CLI of status-fanout: incidents, components, maintenance, templates, "
                       "subscribers, keys and the audit log, through the staff API (docs/cli.md).")
incident_app = typer.Typer(no_args_is_help=True, help="Open, update, resolve, list and show incidents.")
component_app = typer.Typer(no_args_is_help=True, help="List components, set their status.")
maintenance_app = typer.Typer(no_args_is_help=True, help="Schedule, list and cancel maintenance.")
template_app = typer.Typer(no_args_is_help=True, help="Incident templates: list, use, show, save, delete.")
subscribers_app = typer.Typer(no_args_is_help=True, help="Export and import email subscribers.")
keys_app = typer.Typer(no_args_is_help=True, help="Staff keys: create, list, revoke.")
app.add_typer(incident_app, name="incident")
app.add_typer(component_app, name="component")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(template_app, name="template")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(keys_app, name="keys")


# --- running a command ---------------------------------------------------------

@dataclass
class Session:
    client: Client
    as_json: bool
    out: Console
    err: Console

    def show(self, reply: Reply, human: Callable[[Any], RenderableType | str | None]) -> None:
        """`--json`: the API's bytes as they came; else `human` of the parsed answer."""
        if self.as_json:
            write_raw(reply.raw)
            return
        shown = human(reply.json)
        if shown is not None:
            self.out.print(shown)

    @contextmanager
    def progress(self, what: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """A bar on stderr while a long listing or import runs (only on a terminal)."""
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn()]
        with Progress(*columns, console=self.err, transient=True, disable=not self.err.is_terminal) as bar:
            task = bar.add_task(what, total=total)
            yield lambda n: bar.advance(task, n)


def write_raw(raw: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(raw if raw.endswith(b"\n") or not raw else raw + b"\n")
    sys.stdout.buffer.flush()


def consoles() -> tuple[Console, Console]:
    # Rich markup is off for everything printed: text from the API is never markup.
    return _console(stderr=False), _console(stderr=True)


def _console(stderr: bool) -> Console:
    console = Console(stderr=stderr, markup=False, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped into grep, a file or a log: lines as long as they are, not cut at 80.
        console = Console(stderr=stderr, markup=False, highlight=False, width=PIPED_WIDTH)
    return console


def session(api: str | None, token: str | None, as_json: bool) -> Session:
    if not api:
        raise inputs.UsageError("no API: set STATUS_FANOUT_API or give --api URL")
    if urllib.parse.urlsplit(api).scheme not in ("http", "https") or not urllib.parse.urlsplit(api).netloc:
        raise inputs.UsageError(f"--api: {render.safe(api)!r} is no http:// or https:// URL")
    token = token.strip() if token else token
    if not token:
        raise inputs.UsageError("no token: set STATUS_FANOUT_TOKEN or give --token")
    if not re.fullmatch(r"[\x21-\x7e]+", token):
        # It goes into a header: a space or control character (a pasted line break) never belongs there.
        raise inputs.UsageError("the token has spaces or control characters in it")
    out, err = consoles()
    client = Client(api, token)
    if _plain_http_to_another_host(client.base_url):
        err.print("warning: the token goes over plain http to another machine; use https", style="yellow")
    return Session(client, as_json, out, err)


def _plain_http_to_another_host(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


F = TypeVar("F", bound=Callable[..., Any])


def handled(command: F) -> F:
    """Every command's failures as a message on stderr and an exit status:
    the API's error (its JSON also on stdout with --json), usage, unreachable."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        _, err = consoles()
        try:
            return command(*args, **kwargs)
        except ApiError as error:
            if kwargs.get("as_json"):
                write_raw(error.raw)
            for line in error.lines():
                err.print(render.safe(line), style="red" if line.startswith("error") else None)
            raise typer.Exit(EXIT_API_ERROR) from None
        except inputs.UsageError as error:
            err.print(f"error: {error}", style="red")
            raise typer.Exit(EXIT_USAGE) from None
        except Unreachable as error:
            err.print(f"error: {render.safe(str(error))}", style="red")
            raise typer.Exit(EXIT_UNREACHABLE) from None

    return run  # type: ignore[return-value]


@dataclass
class Listing:
    items: list[Any]
    next_cursor: str | None
    last: Reply
    pages: int


def paged(s: Session, path: str, key: str, query: dict[str, Any], limit: int, every: bool,
          cursor: str | None, what: str, sized: bool = True) -> Listing:
    """Page through a list route, up to `limit` items (`every`: all of them)."""
    items: list[Any] = []
    next_cursor: str | None = None
    last: Reply | None = None
    pages = 0
    cap = None if every else limit
    with s.progress(what, cap) as advance:
        for page, page_cursor, reply in s.client.pages(path, key, query=query, limit=cap, cursor=cursor,
                                                       sized=sized):
            next_cursor, last = page_cursor, reply
            items.extend(page)
            pages += 1
            advance(len(page))
    assert last is not None
    return Listing(items if cap is None else items[:cap], next_cursor, last, pages)


def show_list(s: Session, key: str, listing: Listing, table: Callable[[list[Any]], RenderableType]) -> None:
    """A list as the API shapes it: one page's bytes as they came; several pages
    joined into one answer of the same shape (`next_cursor` of the last page)."""
    if s.as_json:
        payload = listing.last.json
        if listing.pages == 1 and len(list_items(payload, key)[0]) == len(listing.items):
            write_raw(listing.last.raw)
        else:
            merged = dict(payload) if isinstance(payload, dict) else {}
            merged[key] = listing.items
            merged["next_cursor"] = listing.next_cursor
            write_raw(json.dumps(merged, ensure_ascii=False).encode())
        return
    s.out.print(table(listing.items))
    if listing.next_cursor:
        s.err.print(f"more: --cursor {render.safe(listing.next_cursor)}  (or --all)", style="dim")


def incident_line(incident: dict[str, Any], verb: str) -> str:
    parts = [verb, render.safe(incident.get("id")), render.safe(incident.get("status")),
             render.safe(incident.get("impact")), quoted(incident.get("name"))]
    if incident.get("shortlink"):
        parts.append(render.safe(incident["shortlink"]))
    return "  ".join(p for p in parts if p)


def idempotency(chosen: str | None) -> str:
    """The run's Idempotency-Key: the one chosen (checked as the API checks it) or a new one."""
    if chosen is None:
        return new_idempotency_key()
    # The import adds ".N" for each chunk.
    if not VISIBLE_ASCII.fullmatch(chosen) or len(chosen) > 240:
        raise inputs.UsageError("--idempotency-key: 1-240 visible ASCII characters, no spaces")
    return chosen


def quoted(value: Any) -> str:
    return f'"{render.safe(value)}"'


def _opt(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


# --- incident -------------------------------------------------------------------

@incident_app.command("open")
@handled
def incident_open(
    name: Annotated[str | None, typer.Argument(help="The incident's title", show_default=False)] = None,
    status: Annotated[IncidentStatus | None, typer.Option(
        "--status", "-s", show_default=False, help="Default: investigating (or the template's)")] = None,
    impact: Annotated[Impact | None, typer.Option(show_default=False, help="Default: from the components")] = None,
    body: BodyOption = None, body_file: BodyFileOption = None, component: ComponentsOption = None,
    notify: NotifyOption = True, display_at: DisplayAtOption = None,
    template: Annotated[str | None, typer.Option(
        "--template", "-t", show_default=False, help="Start from this template; flags override its fields")] = None,
    idempotency_key: KeyOption = None, api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Open an incident with its first update.

    status-fanout incident open "Mail platform outage" --impact critical -c smtp-email=major_outage --body-file -
    """
    text = inputs.read_body(body, body_file, required=template is None)
    if name is None and template is None:
        raise inputs.UsageError("give the incident's name (or --template)")
    request = _opt(template=template, name=name, status=status or (None if template else "investigating"),
                   impact=impact, body=text, components=inputs.component_changes(component),
                   display_at=inputs.timestamp(display_at, "--display-at"))
    if not notify:
        request["notify"] = False
    s = session(api, token, as_json)
    reply = s.client.request("POST", "/v1/incidents", body=request,
                             idempotency_key=idempotency(idempotency_key))
    s.show(reply, lambda incident: incident_line(incident, "opened"))


def _post_update(s: Session, incident_id: str, request: dict[str, Any], key: str | None, verb: str) -> None:
    reply = s.client.request("POST", f"/v1/incidents/{_path(incident_id)}/updates", body=request,
                             idempotency_key=idempotency(key))
    s.show(reply, lambda incident: incident_line(incident, verb))


def _path(segment: str) -> str:
    """An id as one path segment: `../keys` or `a?b` cannot reach another route."""
    return urllib.parse.quote(segment, safe="")


@incident_app.command("update")
@handled
def incident_update(
    incident_id: Annotated[str, typer.Argument(help="The incident's id")],
    status: Annotated[IncidentStatus | None, typer.Option(
        "--status", "-s", show_default=False, help="Default: the incident's current status (an 'Update')")] = None,
    impact: Annotated[Impact | None, typer.Option(show_default=False)] = None,
    body: BodyOption = None, body_file: BodyFileOption = None, component: ComponentsOption = None,
    notify: NotifyOption = True, display_at: DisplayAtOption = None,
    idempotency_key: KeyOption = None, api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Post an update to an incident.

    echo "A fix has been implemented." | status-fanout incident update 4f8s2kq0x1ab --status monitoring
    """
    text = inputs.read_body(body, body_file)
    request = _opt(status=status, body=text, impact=impact, components=inputs.component_changes(component),
                   display_at=inputs.timestamp(display_at, "--display-at"))
    if not notify:
        request["notify"] = False
    s = session(api, token, as_json)
    if status is None:
        request["status"] = s.client.json("GET", f"/v1/incidents/{_path(incident_id)}")["status"]
    _post_update(s, incident_id, request, idempotency_key, "updated")


@incident_app.command("resolve")
@handled
def incident_resolve(
    incident_id: Annotated[str, typer.Argument(help="The incident's id")],
    body: BodyOption = None, body_file: BodyFileOption = None, component: ComponentsOption = None,
    operational: Annotated[bool, typer.Option(
        "--operational", help="Also set every component the incident touched back to operational")] = False,
    notify: NotifyOption = True, display_at: DisplayAtOption = None,
    idempotency_key: KeyOption = None, api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Resolve an incident (default text: "This incident has been resolved.").

    status-fanout incident resolve 4f8s2kq0x1ab --operational
    """
    text = inputs.read_body(body, body_file, required=False) or RESOLVED_BODY
    changes = inputs.component_changes(component) or {}
    s = session(api, token, as_json)
    if operational:
        found = s.client.json("GET", f"/v1/incidents/{_path(incident_id)}")
        touched = {c["id"] for c in found.get("components") or [] if isinstance(c, dict) and c.get("id")}
        changes = {**{cid: "operational" for cid in sorted(touched)}, **changes}
    request = _opt(status="resolved", body=text, components=changes or None,
                   display_at=inputs.timestamp(display_at, "--display-at"))
    if not notify:
        request["notify"] = False
    _post_update(s, incident_id, request, idempotency_key, "resolved")


@incident_app.command("postmortem")
@handled
def incident_postmortem(
    incident_id: Annotated[str, typer.Argument(help="The incident's id")],
    body: BodyOption = None, body_file: BodyFileOption = None, notify: NotifyOption = True,
    display_at: DisplayAtOption = None, api: ApiOption = None, token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Publish (or correct) an incident's postmortem.

    status-fanout incident postmortem 4f8s2kq0x1ab --body-file postmortem.md
    """
    request = _opt(body=inputs.read_body(body, body_file), display_at=inputs.timestamp(display_at, "--display-at"))
    if not notify:
        request["notify"] = False
    s = session(api, token, as_json)
    reply = s.client.request("PUT", f"/v1/incidents/{_path(incident_id)}/postmortem", body=request)
    s.show(reply, lambda incident: incident_line(incident, "postmortem of"))


@incident_app.command("list")
@handled
def incident_list(limit: LimitOption = 20, every: AllOption = False, cursor: CursorOption = None,
                  api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List incidents, newest first.

    status-fanout incident list --limit 50
    """
    s = session(api, token, as_json)
    listing = paged(s, "/v1/incidents", "incidents", {}, limit, every, cursor, "incidents")
    show_list(s, "incidents", listing, render.incidents)


@incident_app.command("show")
@handled
def incident_show(incident_id: Annotated[str, typer.Argument(help="The incident's id")],
                  api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Show one incident and all its updates.

    status-fanout incident show 4f8s2kq0x1ab --json
    """
    s = session(api, token, as_json)
    s.show(s.client.request("GET", f"/v1/incidents/{_path(incident_id)}"), render.incident)


# --- component ------------------------------------------------------------------

@component_app.command("list")
@handled
def component_list(api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List components in page order.

    status-fanout component list
    """
    s = session(api, token, as_json)
    s.show(s.client.request("GET", "/v1/components"), lambda payload: render.components(
        list_items(payload, "components")[0]))


@component_app.command("set")
@handled
def component_set(
    component_id: Annotated[str, typer.Argument(help="The component's id (a-z, 0-9, -)")],
    status: Annotated[str, typer.Argument(help="operational, degraded_performance, partial_outage, major_outage, "
                                               "under_maintenance (or ok, degraded, partial, down, maintenance)")],
    name: Annotated[str | None, typer.Option(
        show_default=False, help="Create or replace the component with this name (never notifies)")] = None,
    group: Annotated[str | None, typer.Option(show_default=False, help="With --name: its group")] = None,
    description: Annotated[str | None, typer.Option(show_default=False, help="With --name: its description")] = None,
    position: Annotated[int | None, typer.Option(show_default=False, min=0, help="With --name: its place")] = None,
    api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Set a component's status (notifies its subscribers), or create it with --name.

    status-fanout component set smtp-email major_outage
    """
    new_status = inputs.component_status(status, "STATUS")
    if name is None and (group or description or position is not None):
        raise inputs.UsageError("--group, --description and --position go with --name (create or replace)")
    s = session(api, token, as_json)
    path = f"/v1/components/{_path(component_id)}"
    if name is None:
        reply = s.client.request("PATCH", path, body={"status": new_status})
    else:
        request = _opt(name=name, group=group, description=description, status=new_status, position=position)
        reply = s.client.request("PUT", path, body=request)
    verb = {201: "created", 200: "set"}.get(reply.status, "set")
    s.show(reply, lambda c: f"{verb} {render.safe(c.get('id'))}  {render.safe(c.get('status'))}  "
                            f"{quoted(c.get('name'))}")


# --- maintenance ------------------------------------------------------------------

@maintenance_app.command("schedule")
@handled
def maintenance_schedule(
    name: Annotated[str | None, typer.Argument(help="The maintenance's title", show_default=False)] = None,
    start: Annotated[str | None, typer.Option(
        "--start", show_default=False, help="When it starts: RFC 3339 with a zone, or +2h, +1d")] = None,
    end: Annotated[str | None, typer.Option(
        "--end", show_default=False, help="When it ends: RFC 3339 with a zone, or +3h")] = None,
    component: Annotated[list[str] | None, typer.Option(
        "--component", "-c", show_default=False, help="A component it touches (repeatable)")] = None,
    body: BodyOption = None, body_file: BodyFileOption = None, notify: NotifyOption = True,
    remind: Annotated[bool, typer.Option("--remind/--no-remind", help="Post a reminder 60 minutes before")] = True,
    auto_start: Annotated[bool, typer.Option("--auto-start/--no-auto-start",
                                             help="Start it at --start on its own")] = True,
    auto_complete: Annotated[bool, typer.Option("--auto-complete/--no-auto-complete",
                                                help="Complete it at --end on its own")] = True,
    template: Annotated[str | None, typer.Option(
        "--template", "-t", show_default=False, help="Start from this template; flags override it")] = None,
    idempotency_key: KeyOption = None, api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Schedule a maintenance window.

    status-fanout maintenance schedule "Database upgrade" --start 2026-03-01T02:00:00Z --end +4h -c smtp-email
    """
    text = inputs.read_body(body, body_file, required=template is None)
    if template is None and (name is None or start is None or end is None):
        raise inputs.UsageError("give the name, --start and --end (or --template)")
    starts = inputs.timestamp(start, "--start")
    # `--end +4h` counts from the start, as people say it ("four hours from then").
    ends = _end(end, starts)
    request = _opt(template=template, name=name, body=text, scheduled_for=starts, scheduled_until=ends,
                   components=component or None)
    for flag, value in (("notify", notify), ("remind_prior", remind), ("auto_in_progress", auto_start),
                        ("auto_completed", auto_complete)):
        if not value:
            request[flag] = False
    s = session(api, token, as_json)
    reply = s.client.request("POST", "/v1/maintenances", body=request,
                             idempotency_key=idempotency(idempotency_key))
    s.show(reply, lambda m: f"scheduled {render.safe(m.get('id'))}  {render.safe(m.get('scheduled_for'))} → "
                            f"{render.safe(m.get('scheduled_until'))}  {quoted(m.get('name'))}")


def _end(end: str | None, starts: str | None) -> str | None:
    if end is not None and starts is not None and end.strip().startswith("+"):
        from datetime import datetime

        return inputs.timestamp(end, "--end", now=datetime.fromisoformat(starts.replace("Z", "+00:00")))
    return inputs.timestamp(end, "--end")


@maintenance_app.command("list")
@handled
def maintenance_list(
    status: Annotated[MaintenanceFilter | None, typer.Option(show_default=False, help="Only these")] = None,
    limit: LimitOption = 20, every: AllOption = False, cursor: CursorOption = None,
    api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """List maintenances, latest scheduled first.

    status-fanout maintenance list --status upcoming
    """
    s = session(api, token, as_json)
    listing = paged(s, "/v1/maintenances", "maintenances", _opt(status=status), limit, every,
                                     cursor, "maintenances")
    show_list(s, "maintenances", listing, render.maintenances)


@maintenance_app.command("cancel")
@handled
def maintenance_cancel(
    maintenance_id: Annotated[str, typer.Argument(help="The maintenance's id")],
    body: BodyOption = None, body_file: BodyFileOption = None, notify: NotifyOption = True,
    idempotency_key: KeyOption = None, api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Cancel a maintenance not yet started (subscribers are told).

    status-fanout maintenance cancel 7hq2m0c9d1zz --body "Postponed to next week."
    """
    request = _opt(body=inputs.read_body(body, body_file, required=False))
    if not notify:
        request["notify"] = False
    s = session(api, token, as_json)
    reply = s.client.request("POST", f"/v1/maintenances/{_path(maintenance_id)}/cancel", body=request,
                             idempotency_key=idempotency(idempotency_key))
    s.show(reply, lambda m: f"cancelled {render.safe(m.get('id'))}  {quoted(m.get('name'))}")


# --- template -------------------------------------------------------------------

@template_app.command("list")
@handled
def template_list(api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List incident templates.

    status-fanout template list
    """
    s = session(api, token, as_json)
    listing = paged(s, "/v1/templates", "templates", {}, 100, True, None, "templates", sized=False)
    show_list(s, "templates", listing, render.templates)


@template_app.command("show")
@handled
def template_show(template_id: Annotated[str, typer.Argument(help="The template's id")],
                  api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Show one template.

    status-fanout template show smtp-down
    """
    s = session(api, token, as_json)
    s.show(s.client.request("GET", f"/v1/templates/{_path(template_id)}"),
           lambda t: render.templates([t]) if isinstance(t, dict) else None)


@template_app.command("use")
@handled
def template_use(
    template_id: Annotated[str, typer.Argument(help="The template's id")],
    name: Annotated[str | None, typer.Argument(help="The incident's title (default: the template's)",
                                               show_default=False)] = None,
    status: Annotated[IncidentStatus | None, typer.Option("--status", "-s", show_default=False)] = None,
    impact: Annotated[Impact | None, typer.Option(show_default=False)] = None,
    body: BodyOption = None, body_file: BodyFileOption = None, component: ComponentsOption = None,
    notify: NotifyOption = True, idempotency_key: KeyOption = None,
    api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Open an incident from a template; flags override its fields.

    status-fanout template use smtp-down --body "Delays on outbound mail."
    """
    incident_open(name=name, status=status, impact=impact, body=body, body_file=body_file, component=component,
                  notify=notify, display_at=None, template=template_id, idempotency_key=idempotency_key,
                  api=api, token=token, as_json=as_json)


@template_app.command("save")
@handled
def template_save(
    template_id: Annotated[str, typer.Argument(help="The template's id")],
    name: Annotated[str, typer.Option(help="What staff pick it by")],
    title: Annotated[str, typer.Option(help="The incident's title")],
    status: Annotated[IncidentStatus | None, typer.Option("--status", "-s", show_default=False)] = None,
    impact: Annotated[Impact | None, typer.Option(show_default=False)] = None,
    body: BodyOption = None, body_file: BodyFileOption = None, component: ComponentsOption = None,
    api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Create or replace a template.

    status-fanout template save smtp-down --name "SMTP down" --title "Email delays" -c smtp-email=major_outage -b ...
    """
    request = _opt(name=name, title=title, body=inputs.read_body(body, body_file), status=status, impact=impact,
                   components=inputs.component_changes(component))
    s = session(api, token, as_json)
    reply = s.client.request("PUT", f"/v1/templates/{_path(template_id)}", body=request)
    s.show(reply, lambda _: f"saved {render.safe(template_id)}")


@template_app.command("delete")
@handled
def template_delete(template_id: Annotated[str, typer.Argument(help="The template's id")],
                    api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Delete a template.

    status-fanout template delete smtp-down
    """
    s = session(api, token, as_json)
    reply = s.client.request("DELETE", f"/v1/templates/{_path(template_id)}")
    s.show(reply, lambda _: f"deleted {render.safe(template_id)}")


# --- subscribers ------------------------------------------------------------------

@subscribers_app.command("export")
@handled
def subscribers_export(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", show_default=False, help="Write to this file (default: stdout)")] = None,
    state: Annotated[SubscriberState | None, typer.Option(show_default=False, help="Only subscribers in this state")]
    = None,
    api: ApiOption = None, token: TokenOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The API's JSON (what import reads back) instead of CSV")]
    = False,
) -> None:
    """Export every email subscriber, oldest first, as CSV (email, components, state, created).

    status-fanout subscribers export -o subscribers.csv
    """
    s = session(api, token, as_json)
    replies: list[Reply] = []
    cursor: str | None = None
    while True:  # the API answers at most 50,000 rows (5 MB) a request; X-Next-Cursor names the rest
        reply = s.client.request("GET", "/v1/subscribers/export",
                                 query=_opt(format="json" if as_json else "csv", state=state, cursor=cursor),
                                 accept="application/json" if as_json else "text/csv")
        replies.append(reply)
        cursor = reply.headers.get("X-Next-Cursor") or None
        if cursor is None:
            break
    raw, count = imports.join_exports([r.raw for r in replies], as_json)
    if output is None:
        write_raw(raw)
        return
    try:
        output.write_bytes(raw)
    except OSError as error:
        raise inputs.UsageError(f"--output: cannot write {output}: {error.strerror or error}") from error
    s.err.print(f"wrote {count} subscribers to {output}")


@subscribers_app.command("import")
@handled
def subscribers_import(
    file: Annotated[str, typer.Argument(
        help="A CSV (header: email and any of components, state, created) or JSON (an export, or a list of "
             "subscribers); '-': stdin", metavar="FILE")],
    consent: Annotated[Consent | None, typer.Option(
        show_default=False, help="confirmed_elsewhere: rows whose state is confirmed are imported confirmed "
                                 "(no opt-in mail); without it such rows are refused")] = None,
    idempotency_key: KeyOption = None, api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Import email subscribers; rejected rows are reported by their line in FILE (JSON: their position).

    status-fanout subscribers import subscribers.csv
    """
    if file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as error:
            raise inputs.UsageError(f"FILE: cannot read {file}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise inputs.UsageError(f"FILE: {file} is not UTF-8 text") from error
    try:
        parts = imports.chunks(text)
    except ValueError as error:
        raise inputs.UsageError(f"FILE: {error}") from error
    if not parts:
        raise inputs.UsageError("FILE: no rows to import")
    s = session(api, token, as_json)
    key = idempotency(idempotency_key)
    reports: list[tuple[imports.Chunk, Any]] = []
    with s.progress("importing", sum(p.rows for p in parts)) as advance:
        for number, part in enumerate(parts, start=1):
            reply = s.client.request("POST", "/v1/subscribers/import", raw=part.body, content_type=part.content_type,
                                     query=_opt(consent=consent),
                                     idempotency_key=key if len(parts) == 1 else f"{key}.{number}")
            reports.append((part, reply.json))
            advance(part.rows)
    if as_json and len(parts) == 1:
        write_raw(reply.raw)
        report = reply.json if isinstance(reply.json, dict) else {}
    else:
        report = imports.merge_reports(reports)
        if as_json:
            write_raw(json.dumps(report, ensure_ascii=False).encode())
        else:
            s.out.print(render.import_report(report))
    if report.get("rejected"):
        raise typer.Exit(EXIT_API_ERROR)


# --- keys -------------------------------------------------------------------------

@keys_app.command("create")
@handled
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what holds it, e.g. alice or deploy-bot")],
    # No default: what a key may do is chosen each time, never assumed.
    role: Annotated[Role, typer.Option("--role", "-r", help="admin, responder or viewer")],
    idempotency_key: KeyOption = None, api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Create a staff key; it is shown this once.

    status-fanout keys create alice --role responder
    """
    s = session(api, token, as_json)
    reply = s.client.request("POST", "/v1/keys", body={"name": name, "role": role},
                             idempotency_key=idempotency(idempotency_key))

    def shown(created: dict[str, Any]) -> str:
        return (f"created {render.safe(created.get('key_id'))}  {quoted(created.get('name'))}  "
                f"{render.safe(created.get('role'))}\nkey (shown only now; store it safely):\n"
                f"{render.safe(created.get('key'))}")

    s.show(reply, shown)


@keys_app.command("list")
@handled
def keys_list(api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """List staff keys (never the keys themselves).

    status-fanout keys list
    """
    s = session(api, token, as_json)
    listing = paged(s, "/v1/keys", "keys", {}, 100, True, None, "keys", sized=False)
    show_list(s, "keys", listing, render.keys)


@keys_app.command("revoke")
@handled
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list)")],
                api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Revoke a staff key at once.

    status-fanout keys revoke k_2m9x0c
    """
    s = session(api, token, as_json)
    reply = s.client.request("DELETE", f"/v1/keys/{_path(key_id)}")
    s.show(reply, lambda _: f"revoked {render.safe(key_id)}")


# --- audit ------------------------------------------------------------------------

@app.command("audit")
@handled
def audit(
    since: Annotated[str | None, typer.Option(
        show_default=False, help="From this time on: RFC 3339, or -24h, -7d")] = None,
    actor: Annotated[str | None, typer.Option(show_default=False, help="Only this key name (or bootstrap)")] = None,
    limit: LimitOption = 50, every: AllOption = False, cursor: CursorOption = None,
    api: ApiOption = None, token: TokenOption = None, as_json: JsonOption = False,
) -> None:
    """Read the audit log, newest first (admin).

    status-fanout audit --since -24h --actor alice
    """
    query = _opt(since=inputs.timestamp(since, "--since"), actor=actor)
    s = session(api, token, as_json)
    listing = paged(s, "/v1/audit", "entries", query, limit, every, cursor, "audit entries")
    show_list(s, "entries", listing, render.audit)


# --- the local stack's commands, listed here for --help and completion ---------------

def _local_command(name: str, summary: str) -> None:
    settings = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}

    @app.command(name, help=f"{summary} (`status-fanout {name} --help`)", context_settings=settings,
                 add_help_option=False, rich_help_panel="The local stack")
    def passthrough(ctx: typer.Context) -> None:
        from status_fanout_local.cli import main as local_main

        raise typer.Exit(local_main([name, *ctx.args]))


for _name, _summary in zip(LOCAL_COMMANDS, ("Run the whole system locally", "Post an incident history through "
                                            "the API", "Print the SHA-256 of a staff token (or make one)"),
                           strict=True):
    _local_command(_name, _summary)


def run(args: list[str]) -> int:
    try:
        app(args=args, prog_name="status-fanout")
    except BrokenPipeError:
        # `status-fanout incident list | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SystemExit as done:
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
