"""The local front door: API Gateway (REST, payload v1) in front of the handlers,
and the public bucket for every other GET, as CloudFront serves it in AWS.

werkzeug does the HTTP: its threaded server, request and response wrappers,
chunked bodies, path matching and conditional GET. What is ours: the proxy
event made of a request, the Lambda's answer made a response, the public
bucket at its public paths, the body limit, and the contract's error shape
(docs/contract.md §5.5) on the front door's own errors.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError
from werkzeug.exceptions import BadRequest, NotFound, RequestEntityTooLarge
from werkzeug.routing import BaseConverter, Map, RequestRedirect, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .template import ACCOUNT_ID, FunctionSpec

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("status_fanout_local.http")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
STAGE = "prod"
API_ID = "local"
# The request's header lines as the client sent them: WSGI folds repeated
# headers into one and loses the names' case; the proxy event keeps both.
RAW_HEADERS = "status_fanout_local.raw_headers"
# API Gateway computes these itself; a Lambda's values are not passed on.
_HOP_BY_HOP = ("Content-Length", "Transfer-Encoding", "Connection")


# ------------------------------------------------------------------------ routes


@dataclass(frozen=True)
class Route:
    resource: str  # the template's path, e.g. /v1/incidents/{incident_id}
    method: str  # upper case; "ANY" takes every method
    function: str


class _Greedy(BaseConverter):
    """{name+}: one or more whole segments, slashes included."""

    regex = ".+"
    part_isolating = False


def werkzeug_rule(resource: str) -> str:
    """/v1/incidents/{incident_id} → /v1/incidents/<incident_id>; {proxy+} → <greedy:proxy>."""
    return re.sub(r"\{(\w+)\}", r"<\1>", re.sub(r"\{(\w+)\+\}", r"<greedy:\1>", resource))


class Routes:
    """The template's Api events, matched as API Gateway matches them.

    The most specific resource wins (a literal segment before {name}, {name}
    before {name+}), and only then is the method looked at: a known path
    with another method is a 405, even where a less specific resource takes
    that method. Paths match still percent-encoded, so %2F stays inside its
    path parameter, which is then decoded.
    """

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self.methods: dict[str, dict[str, Route]] = {}
        for route in routes:
            self.methods.setdefault(route.resource, {})[route.method] = route
        rules = [Rule(werkzeug_rule(resource), endpoint=resource) for resource in self.methods]
        # Strict and unmerged slashes: /v1/incidents/ and /v1//incidents are
        # not /v1/incidents (they fall through to the bucket or a 404).
        urls = Map(rules, converters={"greedy": _Greedy}, strict_slashes=True, merge_slashes=False,
                   redirect_defaults=False)
        self._adapter = urls.bind("local")

    def match(self, path: str, method: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, path known) for a request path, still percent-encoded."""
        try:
            resource, values = self._adapter.match(path)
        except (NotFound, RequestRedirect):
            return None, {}, False
        methods = self.methods[resource]
        route = methods.get(method) or methods.get("ANY")
        if route is None:
            return None, {}, True
        return route, {name: unquote(value) for name, value in values.items()}, True


def routes_for(functions: Iterable[FunctionSpec]) -> Routes:
    return Routes(Route(event.path, event.method, spec.logical_id) for spec in functions for event in spec.api_events)


# ------------------------------------------------------- request ↔ proxy event


class _Request(Request):
    # A larger declared body is refused before it is read (werkzeug raises
    # RequestEntityTooLarge). A chunked one werkzeug only cuts off at the
    # limit, without an error: reading one byte past it shows there was more.
    max_content_length = MAX_BODY_BYTES + 1


def read_body(request: Request) -> bytes:
    """The request body, at most MAX_BODY_BYTES; RequestEntityTooLarge past that."""
    body = request.get_data()
    if len(body) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    return body


class _Response(Response):
    # No text/plain for an answer without a Content-Type: the client gets
    # the Lambda's headers, no more.
    default_mimetype = None


def request_path(environ: Mapping[str, Any]) -> str:
    """The path of the request target as the client sent it, still percent-encoded.

    RAW_URI is that target as a WSGI (latin-1) string; werkzeug's server and
    its EnvironBuilder both set it.
    """
    target = str(environ.get("RAW_URI") or "/").encode("latin-1").decode("utf-8", "replace")
    if not target.startswith("/"):
        target = urlsplit(target).path or "/"  # absolute form: http://host/path
    return target.split("?", 1)[0]


def proxy_event(request: Request, route: Route, params: Mapping[str, str]) -> dict[str, Any]:
    """The API Gateway REST proxy event (payload v1) for `request` on `route`; reads the body."""
    body = read_body(request)
    now = time.time()
    environ = request.environ
    multi_headers: dict[str, list[str]] = {}
    for name, value in environ.get(RAW_HEADERS) or request.headers.items():
        multi_headers.setdefault(name, []).append(value)
    client_ip = request.remote_addr or ""
    for name, value in (
        ("X-Forwarded-For", client_ip),
        ("X-Forwarded-Port", str(environ.get("SERVER_PORT", ""))),
        ("X-Forwarded-Proto", request.scheme),
    ):
        multi_headers.setdefault(name, [value])
    multi_query = request.args.to_dict(flat=False)
    text: str | None
    encoded = False
    try:
        text = body.decode("utf-8") if body else None
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    path = unquote(request_path(environ))
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": request.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(params) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "resourceId": "local",
            "resourcePath": route.resource,
            "httpMethod": request.method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "domainName": request.headers.get("Host", ""),
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            "identity": {
                "sourceIp": client_ip,
                "userAgent": request.headers.get("User-Agent"),
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


def proxy_response(answer: Any) -> Response:
    """The Lambda's proxy answer as API Gateway sends it on; ValueError if it is not one."""
    if not isinstance(answer, dict) or "statusCode" not in answer:
        raise ValueError(f"not a proxy response: {answer!r}")
    body = answer.get("body") or ""
    payload = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode("utf-8")
    response = _Response(payload, status=int(answer["statusCode"]))
    multi = answer.get("multiValueHeaders") or {}
    for name, values in multi.items():
        for value in values:
            response.headers.add(name, str(value))
    multi_names = {name.lower() for name in multi}
    for name, value in (answer.get("headers") or {}).items():
        if name.lower() not in multi_names:
            response.headers.add(name, str(value))
    for name in _HOP_BY_HOP:
        response.headers.remove(name)
    return response


# What CloudFront's response headers policy (template.yaml, PublicCorsPolicy)
# adds to every public artifact and answers a preflight with.
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag, Last-Modified"}
PREFLIGHT_HEADERS = {"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS", "Access-Control-Max-Age": "86400"}


def cross_origin(response: Response) -> Response:
    for name, value in CORS_HEADERS.items():
        response.headers[name] = value
    return response


def preflight(request: Request) -> Response:
    """A CORS preflight for a public artifact: allowed from anywhere, any headers."""
    response = Response(status=204)
    response.headers.update(CORS_HEADERS)
    response.headers.update(PREFLIGHT_HEADERS)
    response.headers["Access-Control-Allow-Headers"] = request.headers.get("Access-Control-Request-Headers") or "*"
    return response


def error_response(status: int, code: str, message: str) -> Response:
    """The front door's own errors, in the shape of docs/contract.md §5.5."""
    return _json(status, {"error": {"code": code, "message": message, "details": []}})


def _json(status: int, document: Mapping[str, Any]) -> Response:
    return _Response(json.dumps(document), status=status, content_type="application/json")


_TOO_LARGE = ("payload_too_large", "the request body exceeds API Gateway's 10 MiB limit")


# ----------------------------------------------------------------------- server


class _RequestHandler(WSGIRequestHandler):
    server_version = "status-fanout-local"  # werkzeug's own is a property
    protocol_version = "HTTP/1.1"

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        environ[RAW_HEADERS] = list(self.headers.items())
        return environ

    def handle_expect_100(self) -> bool:
        # Refuse a body over the limit before the client sends it. Otherwise
        # werkzeug's run_wsgi sends the 100 Continue (http.server would send
        # a second one).
        try:
            declared = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared <= MAX_BODY_BYTES:
            return True
        payload = error_response(413, *_TOO_LARGE).get_data()
        self.send_response(413)
        for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                            ("Connection", "close")):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = True
        return False

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.info('%s "%s" %s %s', self.address_string(), self.requestline, code, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.log(logging.ERROR if type == "error" else logging.INFO, "%s " + message, self.address_string(), *args)


class FrontDoor:
    """A threaded werkzeug server, bound at construction so that its port is known early."""

    def __init__(
        self,
        port: int,
        invoke: Callable[[str, Any], Any],
        s3_client: Callable[[], Any],
        host: str = "127.0.0.1",
    ) -> None:
        self.routes = Routes()
        self.public_bucket: str | None = None
        self._invoke = invoke
        self._s3_client = s3_client
        self._s3: Any = None
        self._s3_lock = threading.Lock()
        try:
            self.server = make_server(host, port, self.wsgi_app, threaded=True, request_handler=_RequestHandler)
        except SystemExit as exc:  # werkzeug has printed why it cannot listen
            raise OSError(f"cannot listen on {host}:{port}") from exc
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

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

    # -- the WSGI application

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = _Request(environ)
        try:
            response = self._answer(request)
        except Exception:
            logger.exception("the front door failed on %s %s", request.method, request.path)
            response = error_response(500, "internal_error", "the local front door failed; see its log")
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        # Any method is routed alike (TRACE, QUERY, ...): a 405 on a known
        # path, a 404 elsewhere, never the server's own HTML error.
        path = request_path(request.environ)
        route, params, known = self.routes.match(path, request.method)
        if route is not None:
            return self._api(request, route, params)
        if known:
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {path}")
        if request.method in ("GET", "HEAD"):
            return cross_origin(self._bucket(request, path))
        if request.method == "OPTIONS":
            return preflight(request)
        return error_response(404, "not_found", f"no route for {request.method} {path}")

    # -- API Gateway proxy

    def _api(self, request: Request, route: Route, params: dict[str, str]) -> Response:
        try:
            event = proxy_event(request, route, params)
        except RequestEntityTooLarge:
            return error_response(413, *_TOO_LARGE)
        except (BadRequest, OSError):  # a body cut short, or bad chunked framing
            return error_response(400, "malformed_request", "the request body could not be read")
        try:
            answer = self._invoke(route.function, event)
        except Exception:
            logger.exception("%s raised while handling %s %s", route.function, request.method, request.path)
            return _json(502, {"message": "Internal server error"})
        try:
            return proxy_response(answer)
        except (ValueError, TypeError):
            logger.exception("%s returned a malformed proxy response", route.function)
            return _json(502, {"message": "Internal server error"})

    # -- public bucket

    def _bucket(self, request: Request, path: str) -> Response:
        if not self.public_bucket:
            return error_response(404, "not_found", "no public bucket (PUBLIC_BUCKET is not set)")
        key = unquote(path).lstrip("/")
        if key == "" or key.endswith("/"):
            key += "index.html"
        s3 = self.s3()
        head = request.method == "HEAD"
        try:
            obj = (s3.head_object if head else s3.get_object)(Bucket=self.public_bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return error_response(404, "not_found", f"{path} not found")
            raise
        response = _Response(b"" if head else obj["Body"].read(),
                             content_type=obj.get("ContentType", "binary/octet-stream"))
        response.headers["ETag"] = obj["ETag"]  # as S3 quotes it
        response.last_modified = obj["LastModified"]
        if "CacheControl" in obj:
            response.headers["Cache-Control"] = obj["CacheControl"]
        if obj.get("ContentEncoding"):
            response.headers["Content-Encoding"] = obj["ContentEncoding"]
        response.content_length = int(obj["ContentLength"])  # a HEAD's too
        # If-None-Match (weak comparison), else If-Modified-Since → 304. If-Match
        # is left out, as before: werkzeug would answer `If-Match: *` with 412.
        response.make_conditional({k: v for k, v in request.environ.items() if k != "HTTP_IF_MATCH"})
        response.headers.remove("Date")  # make_conditional adds one; the server sends its own
        return response
