"""What staff type, turned into request fields: a body from a flag, a file or
stdin; component statuses; times. Each fault is a `UsageError` naming the
flag, before anything is sent."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")
# Short forms people type under pressure.
STATUS_ALIASES = {"ok": "operational", "up": "operational", "degraded": "degraded_performance",
                  "partial": "partial_outage", "major": "major_outage", "down": "major_outage",
                  "maintenance": "under_maintenance"}
RELATIVE = re.compile(r"^(?P<sign>[+-])(?P<n>\d+)(?P<unit>[smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class UsageError(Exception):
    """Bad command-line input; exits 2 with the message, nothing sent."""


def read_body(body: str | None, body_file: Path | None, stdin: IO[str] | None = None,
              required: bool = True) -> str | None:
    """The update's text: `--body TEXT`, `--body-file PATH`, or stdin (`-` for either,
    or anything piped when neither is given). None when optional and nothing came."""
    stdin = stdin or sys.stdin
    if body is not None and body_file is not None:
        raise UsageError("give --body or --body-file, not both")
    if body == "-" or (body_file is not None and str(body_file) == "-"):
        text: str | None = stdin.read()
    elif body is not None:
        text = body
    elif body_file is not None:
        try:
            text = body_file.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--body-file: cannot read {body_file}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise UsageError(f"--body-file: {body_file} is not UTF-8 text") from error
    elif not _is_terminal(stdin):
        text = stdin.read()
    else:
        text = None
    if text is not None:
        # A file or a heredoc ends with a newline nobody meant to publish.
        text = text.rstrip("\n")
    if not text:
        if required:
            raise UsageError("give the text with --body, --body-file FILE, or on stdin (--body-file -)")
        return None
    return text


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def component_status(value: str, flag: str) -> str:
    status = STATUS_ALIASES.get(value.strip().lower(), value.strip().lower())
    if status not in COMPONENT_STATUSES:
        raise UsageError(f"{flag}: {value!r} is not a component status ({', '.join(COMPONENT_STATUSES)})")
    return status


def component_changes(values: list[str] | None, flag: str = "--component") -> dict[str, str] | None:
    """`--component smtp-email=major_outage` (repeatable) as the API's `{id: status}`."""
    if not values:
        return None
    changes: dict[str, str] = {}
    for value in values:
        component_id, sep, status = value.partition("=")
        if not sep or not component_id:
            raise UsageError(f"{flag}: write ID=STATUS, e.g. smtp-email=major_outage (got {value!r})")
        changes[component_id.strip()] = component_status(status, flag)
    return changes


def timestamp(value: str | None, flag: str, now: datetime | None = None) -> str | None:
    """An RFC 3339 time for the API: as given with its offset, `now`, or relative
    to now (`+2h`, `-30m`, `+1d`); a time without a zone is refused, not guessed."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    text = value.strip()
    if text == "now":
        moment = now
    elif match := RELATIVE.match(text):
        delta = timedelta(**{UNITS[match["unit"]]: int(match["n"])})
        moment = now + delta if match["sign"] == "+" else now - delta
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as error:
            raise UsageError(f"{flag}: {value!r} is not a time (2026-03-01T02:00:00Z, +2h, -30m, now)") from error
        if moment.tzinfo is None:
            raise UsageError(f"{flag}: {value!r} has no time zone; add Z or an offset such as -05:00")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
