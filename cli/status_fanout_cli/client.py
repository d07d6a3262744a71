"""The staff API over HTTP, with the standard library's urllib.

urllib because the CLI sends a handful of small JSON requests, one at a time:
it needs no connection pool, and every other dependency here would be one more
thing a staff laptop installs and we keep up to date (the replay command uses
urllib too). What the CLI adds on top lives here, in one place: the base URL
and token, the error shape of docs/contract.md §5.5 turned into `ApiError`,
an unreachable API into `Unreachable`, retries that cannot post twice, and
paging through `next_cursor`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

USER_AGENT = "status-fanout-cli/1"
# Attempts for a request that may safely be sent again, and the waits between them.
ATTEMPTS = 4
BACKOFF_SECONDS = (0.5, 1.0, 2.0)
# The longest Retry-After (429, 503) the CLI waits out instead of giving up.
MAX_RETRY_AFTER_SECONDS = 30.0
# The API's page size ceiling (docs/contract.md §5).
MAX_PAGE = 100


class ApiError(Exception):
    """The API answered with an error: its status and its `{"error": {...}}` body."""

    def __init__(self, status: int, code: str, message: str, details: list[Any], raw: bytes) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details, self.raw = status, code, message, details, raw

    @classmethod
    def from_reply(cls, status: int, raw: bytes) -> ApiError:
        try:
            payload = json.loads(raw)
            error = payload["error"]
            code, message = str(error.get("code") or ""), str(error.get("message") or "")
            details = error.get("details") if isinstance(error.get("details"), list) else []
        except (ValueError, TypeError, KeyError, AttributeError):
            # Not our error shape (a proxy's page, an HTML error): show its start.
            text = raw.decode("utf-8", "replace").strip()
            code, message, details = "", text[:300] or f"HTTP {status}", []
        return cls(status, code, message or f"HTTP {status}", details, raw)

    def lines(self) -> list[str]:
        """What a person reads: the message with the status, then each detail with its field."""
        code = f" {self.code}" if self.code else ""
        lines = [f"error: {self.message} (HTTP {self.status}{code})"]
        for detail in self.details:
            if isinstance(detail, dict):
                where = detail.get("field") or detail.get("loc") or ""
                text = detail.get("message") or detail.get("msg") or ""
                lines.append(f"  {where}: {text}" if where and text else f"  {where or text}")
            else:
                lines.append(f"  {detail}")
        return lines


class Unreachable(Exception):
    """No answer from the API: refused, timed out, a bad host name or URL."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the API at {url}: {reason}")
        self.url, self.reason = url, reason


@dataclass
class Reply:
    status: int
    headers: Message  # case-insensitive, as HTTP headers are
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")


def new_idempotency_key() -> str:
    """One per CLI invocation: its retries reuse it, so the API runs the POST once."""
    return f"cli-{uuid.uuid4()}"


def _retry_after(headers: Message) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: the CLI does not wait that long
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER_SECONDS else None


@dataclass
class Client:
    """The staff API at `base_url`, called with a bearer `token`."""

    base_url: str
    token: str
    timeout: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise Unreachable(self.base_url, "the API URL must start with http:// or https://")
        self.base_url = self.base_url.rstrip("/")

    def url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = self.base_url + path
        pairs = {k: v for k, v in (query or {}).items() if v is not None}
        return f"{url}?{urllib.parse.urlencode(pairs)}" if pairs else url

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None,
                raw: bytes | None = None, content_type: str = "application/json",
                idempotency_key: str | None = None, accept: str = "application/json") -> Reply:
        """Send one request (again, where that is safe); an error answer raises `ApiError`.

        Sent again after a dropped connection or a timeout: GET, PUT and PATCH
        (the same request twice leaves the same state) and a POST with an
        Idempotency-Key (the API answers a repeat with the first response).
        After a 503 (the API wrote nothing), a 429 or an Idempotency-Key still
        running (409), any request is sent again, within Retry-After's limit.
        """
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": accept, "User-Agent": USER_AGENT}
        if data is not None:
            headers["Content-Type"] = content_type
        if method == "POST" and idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        repeatable = method in ("GET", "PUT", "PATCH") or (method == "POST" and bool(idempotency_key))
        url = self.url(path, query)
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                reply = self._send(method, url, data, headers)
            except Unreachable:
                if last or not repeatable:
                    raise
                self.sleep(BACKOFF_SECONDS[attempt])
                continue
            if reply.status < 400:
                return reply
            error = ApiError.from_reply(reply.status, reply.raw)
            wait = self._wait_before_retry(reply, error, attempt)
            if last or wait is None:
                raise error
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _wait_before_retry(reply: Reply, error: ApiError, attempt: int) -> float | None:
        if reply.status in (429, 503):
            after = _retry_after(reply.headers)
            if reply.status == 429 and after is None:
                return None
            return after if after is not None else BACKOFF_SECONDS[attempt]
        still_running = any(isinstance(d, dict) and d.get("field") == "Idempotency-Key" for d in error.details)
        if reply.status == 409 and still_running:
            return BACKOFF_SECONDS[attempt]
        return None

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Reply:
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            # The scheme was checked in __post_init__: http or https only.
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.headers, error.read())
        except urllib.error.URLError as error:
            reason = error.reason
            raise Unreachable(self.base_url, str(reason.strerror if isinstance(reason, OSError)
                                                 and reason.strerror else reason)) from error
        except TimeoutError as error:
            raise Unreachable(self.base_url, f"no answer within {self.timeout:g} s") from error
        except (ConnectionError, OSError) as error:
            raise Unreachable(self.base_url, str(error.strerror or error)) from error

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json

    def pages(self, path: str, key: str, *, query: Mapping[str, Any] | None = None, limit: int | None = 20,
              cursor: str | None = None, sized: bool = True) -> Iterator[tuple[list[Any], str | None, Reply]]:
        """Each page of a list route, following `next_cursor` until `limit` items
        (None: all) or the last page; yields (items, next_cursor, reply).
        `sized=False` for a route that takes no `limit` (its own page size)."""
        seen = 0
        while True:
            size = MAX_PAGE if limit is None else max(1, min(MAX_PAGE, limit - seen))
            paging = {"limit": size if sized else None, "cursor": cursor}
            reply = self.request("GET", path, query={**(query or {}), **paging})
            items, cursor = list_items(reply.json, key)
            seen += len(items)
            yield items, cursor, reply
            if not cursor or not items or (limit is not None and seen >= limit):
                return


def list_items(payload: Any, key: str) -> tuple[list[Any], str | None]:
    """The items and next cursor of a list answer, `{key: [...], "next_cursor": c}`,
    as every list route of the staff API answers."""
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        return [], None
    cursor = payload.get("next_cursor")
    return payload[key], cursor if isinstance(cursor, str) and cursor else None
