"""The local front door: API Gateway (REST, payload v1) in front of the handlers,
and the public bucket for every other GET, as CloudFront serves it in AWS."""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.exceptions import ClientError

from .template import ACCOUNT_ID, FunctionSpec

logger = logging.getLogger("status_fanout_local.http")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
DISCARD_LIMIT = 8 * MAX_BODY_BYTES  # past this, cut the connection instead of reading on
STAGE = "prod"
API_ID = "local"


# ------------------------------------------------------------------------ routes


@dataclass(frozen=True)
class Route:
    resource: str  # the template's path, e.g. /v1/incidents/{incident_id}
    method: str
    function: str
    pattern: re.Pattern[str]
    rank: tuple[int, ...]  # lower is more specific, as API Gateway picks resources


def compile_route(resource: str, method: str, function: str) -> Route:
    parts: list[str] = []
    rank: list[int] = []
    for segment in resource.strip("/").split("/") if resource.strip("/") else []:
        greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
        variable = re.fullmatch(r"\{(\w+)\}", segment)
        if greedy:
            parts.append(f"(?P<{greedy.group(1)}>.+)")
            rank.append(2)
        elif variable:
            parts.append(f"(?P<{variable.group(1)}>[^/]+)")
            rank.append(1)
        else:
            parts.append(re.escape(segment))
            rank.append(0)
    return Route(resource, method, function, re.compile("/" + "/".join(parts)), tuple(rank))


def routes_for(functions: Iterable[FunctionSpec]) -> list[Route]:
    routes = [
        compile_route(event.path, event.method, spec.logical_id)
        for spec in functions
        for event in spec.api_events
    ]
    return sorted(routes, key=lambda route: route.rank)


def match_route(routes: list[Route], path: str, method: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path parameters, path known) for a raw request path.

    Like API Gateway, the most specific resource wins first and only then is
    the method looked at, so a known path with another method is a 405.
    """
    for route in routes:
        found = route.pattern.fullmatch(path)
        if not found:
            continue
        same_resource = [r for r in routes if r.resource == route.resource]
        for candidate in same_resource:
            if candidate.method in (method, "ANY"):
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return candidate, params, True
        return None, {}, True
    return None, {}, False


# ----------------------------------------------------------------------- server


class FrontDoor:
    """A ThreadingHTTPServer bound at construction so that its port is known early."""

    def __init__(
        self,
        port: int,
        invoke: Callable[[str, Any], Any],
        s3_client: Callable[[], Any],
        host: str = "127.0.0.1",
    ) -> None:
        self.routes: list[Route] = []
        self.public_bucket: str | None = None
        self._invoke = invoke
        self._s3_client = s3_client
        self._s3: Any = None
        self._s3_lock = threading.Lock()
        handler = _make_handler(self)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def s3(self) -> Any:
        # One shared client: boto3 clients are thread-safe, and creating one
        # per request (each request has its own thread) costs ~0.2 s.
        with self._s3_lock:
            if self._s3 is None:
                self._s3 = self._s3_client()
            return self._s3

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        return self._invoke(function, event)


def _make_handler(door: FrontDoor) -> type[BaseHTTPRequestHandler]:
    class Handler(_RequestHandler):
        front_door = door

    return Handler


class _RequestHandler(BaseHTTPRequestHandler):
    front_door: FrontDoor
    protocol_version = "HTTP/1.1"
    server_version = "status-fanout-local"

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.client_address[0], format % args)

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, ...) is routed like these: a 405 on a
        # known path, a 404 elsewhere; never http.server's 501 for bad input.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    # -- dispatch

    def _dispatch(self) -> None:
        try:
            split = urlsplit(self.path)
            route, params, known = match_route(self.front_door.routes, split.path, self.command)
            if route is not None:
                self._api(route, params, split.path, split.query)
            elif known:
                self._drain_body()
                self._json(405, _error("method_not_allowed", f"{self.command} is not allowed on {split.path}"))
            elif self.command in ("GET", "HEAD"):
                self._bucket(split.path)
            else:
                self._drain_body()
                self._json(404, _error("not_found", f"no route for {self.command} {split.path}"))
        except _TooLarge:
            self.close_connection = True
            self._json(413, _error("payload_too_large", "the request body exceeds API Gateway's 10 MiB limit"))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- API Gateway proxy

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._discard(length)
            raise _TooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _discard(self, length: int) -> None:
        # Read what a client is still sending (within reason) so that it gets
        # the 413 instead of a connection reset.
        remaining = length if length <= DISCARD_LIMIT else 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)

    def handle_expect_100(self) -> bool:
        if int(self.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
            self.close_connection = True
            self._json(413, _error("payload_too_large", "the request body exceeds API Gateway's 10 MiB limit"))
            return False
        return super().handle_expect_100()

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise _TooLarge
            body += self.rfile.read(size)
            self.rfile.readline()

    def _drain_body(self) -> None:
        # Keep-alive needs the body consumed before the next request is read.
        try:
            self._read_body()
        except _TooLarge:
            self.close_connection = True

    def _api(self, route: Route, params: dict[str, str], path: str, query: str) -> None:
        body = self._read_body()
        event = self._event(route, params, unquote(path), query, body)
        try:
            response = self.front_door.invoke(route.function, event)
        except Exception:
            logger.exception("%s raised while handling %s %s", route.function, self.command, path)
            self._json(502, {"message": "Internal server error"})
            return
        if not isinstance(response, dict) or "statusCode" not in response:
            logger.error("%s returned a malformed proxy response: %r", route.function, response)
            self._json(502, {"message": "Internal server error"})
            return
        self._proxy_response(response)

    def _event(self, route: Route, params: dict[str, str], path: str, query: str, body: bytes) -> dict[str, Any]:
        now = time.time()
        multi_headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            multi_headers.setdefault(name, []).append(value)
        client_ip = self.client_address[0]
        for name, value in (
            ("X-Forwarded-For", client_ip),
            ("X-Forwarded-Port", self.front_door.url.rsplit(":", 1)[1]),
            ("X-Forwarded-Proto", "http"),
        ):
            multi_headers.setdefault(name, [value])
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            multi_query.setdefault(name, []).append(value)
        text: str | None
        encoded = False
        try:
            text = body.decode("utf-8") if body else None
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
        request_id = str(uuid.uuid4())
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": self.command,
            "headers": {k: v[-1] for k, v in multi_headers.items()},
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": API_ID,
                "resourceId": "local",
                "resourcePath": route.resource,
                "httpMethod": self.command,
                "path": f"/{STAGE}{path}",
                "stage": STAGE,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "protocol": self.request_version,
                "domainName": self.headers.get("Host", ""),
                "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now * 1000),
                "identity": {
                    "sourceIp": client_ip,
                    "userAgent": self.headers.get("User-Agent"),
                    "accessKey": None,
                    "accountId": None,
                    "caller": None,
                    "user": None,
                    "userArn": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                },
            },
            "body": text,
            "isBase64Encoded": encoded,
        }

    def _proxy_response(self, response: dict[str, Any]) -> None:
        body = response.get("body") or ""
        payload = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
        headers: list[tuple[str, str]] = []
        multi = response.get("multiValueHeaders") or {}
        multi_names = {name.lower() for name in multi}
        for name, values in multi.items():
            headers.extend((name, str(value)) for value in values)
        headers.extend(
            (name, str(value))
            for name, value in (response.get("headers") or {}).items()
            if name.lower() not in multi_names
        )
        self._send(int(response["statusCode"]), headers, payload)

    # -- public bucket

    def _bucket(self, path: str) -> None:
        bucket = self.front_door.public_bucket
        key = unquote(path).lstrip("/")
        if key == "" or key.endswith("/"):
            key += "index.html"
        if not bucket:
            self._json(404, _error("not_found", "no public bucket (PUBLIC_BUCKET is not set)"))
            return
        s3 = self.front_door.s3()
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                self._json(404, _error("not_found", f"{path} not found"))
                return
            raise
        validators = [("ETag", head["ETag"]), ("Last-Modified", _http_date(head["LastModified"]))]
        if "CacheControl" in head:
            validators.append(("Cache-Control", head["CacheControl"]))
        if _not_modified(self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since"), head):
            self._send(304, validators, b"", content_length=False)
            return
        headers = [("Content-Type", head.get("ContentType", "binary/octet-stream")), *validators]
        if head.get("ContentEncoding"):
            headers.append(("Content-Encoding", head["ContentEncoding"]))
        if self.command == "HEAD":
            self._send(200, headers, b"", length=int(head["ContentLength"]))
            return
        obj = s3.get_object(Bucket=bucket, Key=key)
        self._send(200, headers, obj["Body"].read())

    # -- writing

    def _json(self, status: int, document: dict[str, Any]) -> None:
        self._send(status, [("Content-Type", "application/json")], json.dumps(document).encode())

    def _send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        payload: bytes,
        *,
        length: int | None = None,
        content_length: bool = True,
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        if content_length:
            self.send_header("Content-Length", str(len(payload) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(payload)


class _TooLarge(Exception):
    pass


def _error(code: str, message: str) -> dict[str, Any]:
    # The shape of docs/contract.md §5.5, as the API's own errors have it.
    return {"error": {"code": code, "message": message, "details": []}}


def _http_date(value: datetime) -> str:
    return email.utils.format_datetime(value.astimezone(UTC), usegmt=True)


def _not_modified(if_none_match: str | None, if_modified_since: str | None, head: dict[str, Any]) -> bool:
    """RFC 9110 §13.2.2 as S3 applies it: If-None-Match wins over If-Modified-Since."""
    if if_none_match is not None:
        etag = head["ETag"].removeprefix("W/")
        candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in candidates or etag in candidates
    if if_modified_since is not None:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False  # an unparseable date is ignored, as the RFC says
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        modified = head["LastModified"].replace(microsecond=0)
        return bool(modified <= since)
    return False
