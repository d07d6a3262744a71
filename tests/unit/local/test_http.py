"""What the local front door adds to werkzeug: API Gateway's resource matching,
the proxy event made of a request, the Lambda's answer made a response, the
body limit, and the public bucket's conditional GET."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request

from status_fanout_local.http import (
    MAX_BODY_BYTES,
    RAW_HEADERS,
    FrontDoor,
    Route,
    Routes,
    _Request,
    proxy_event,
    proxy_response,
    read_body,
    request_path,
    werkzeug_rule,
)

ROUTES = Routes([
    Route("/v1/incidents", "GET", "Api"),
    Route("/v1/incidents", "POST", "Api"),
    Route("/v1/incidents/{incident_id}", "GET", "Api"),
    Route("/v1/incidents/{incident_id}/updates/{update_id}", "PATCH", "Api"),
    Route("/v1/subscriptions/confirm", "GET", "Subscriptions"),
    Route("/v1/subscriptions/{token}", "DELETE", "Subscriptions"),
    Route("/proxy/{proxy+}", "ANY", "Proxy"),
    Route("/proxy/fixed", "GET", "Fixed"),
])


def request(path: str = "/v1/incidents", method: str = "GET", **kwargs: Any) -> Request:
    environ = EnvironBuilder(path=path, method=method, environ_base={"REMOTE_ADDR": "203.0.113.9"},
                             **kwargs).get_environ()
    return _Request(environ)


# --- path templates ---------------------------------------------------------------------------


@pytest.mark.parametrize("resource,rule", [
    ("/v1/incidents", "/v1/incidents"),
    ("/v1/incidents/{incident_id}", "/v1/incidents/<incident_id>"),
    ("/v1/incidents/{incident_id}/updates/{update_id}", "/v1/incidents/<incident_id>/updates/<update_id>"),
    ("/proxy/{proxy+}", "/proxy/<greedy:proxy>"),
    ("/", "/"),
])
def test_api_gateway_path_templates_become_werkzeug_rules(resource: str, rule: str) -> None:
    assert werkzeug_rule(resource) == rule


@pytest.mark.parametrize("path,method,function,params", [
    ("/v1/incidents", "POST", "Api", {}),
    ("/v1/incidents/abc", "GET", "Api", {"incident_id": "abc"}),
    ("/v1/incidents/a/updates/b", "PATCH", "Api", {"incident_id": "a", "update_id": "b"}),
    # a literal segment wins over {token}
    ("/v1/subscriptions/confirm", "GET", "Subscriptions", {}),
    ("/v1/subscriptions/tok", "DELETE", "Subscriptions", {"token": "tok"}),
    # {proxy+} takes whole segments, slashes included, and any method; a literal resource wins
    ("/proxy/a/b/c", "DELETE", "Proxy", {"proxy": "a/b/c"}),
    ("/proxy/fixed", "GET", "Fixed", {}),
    # parameters are decoded after matching: an encoded slash stays inside its parameter
    ("/v1/incidents/a%2Fb", "GET", "Api", {"incident_id": "a/b"}),
    ("/v1/incidents/a%20b%C2%84", "GET", "Api", {"incident_id": "a b\u0084"}),
])
def test_a_path_finds_the_most_specific_resource_and_its_method(path: str, method: str, function: str,
                                                                 params: dict[str, str]) -> None:
    route, found, known = ROUTES.match(path, method)
    assert route is not None and (route.function, found, known) == (function, params, True)


def test_a_known_path_without_the_method_is_known_but_has_no_route() -> None:
    # /v1/subscriptions/confirm only takes GET; the less specific {token} takes DELETE,
    # but, as in API Gateway, the resource is picked before the method is looked at
    assert ROUTES.match("/v1/subscriptions/confirm", "DELETE") == (None, {}, True)
    assert ROUTES.match("/v1/incidents", "TRACE") == (None, {}, True)
    # HEAD is a method of its own, not GET's
    assert ROUTES.match("/v1/incidents", "HEAD") == (None, {}, True)
    # and {proxy+} on ANY takes a /proxy/fixed method that the literal resource does not
    assert ROUTES.match("/proxy/fixed", "POST") == (None, {}, True)


@pytest.mark.parametrize("path", ["/v1/incidents/", "/v1//incidents", "/v1/incidents/a/", "/v1", "/",
                                  "/proxy/", "/index.html"])
def test_paths_no_resource_takes_are_unknown(path: str) -> None:
    assert ROUTES.match(path, "GET") == (None, {}, False)


def test_request_path_is_the_target_as_sent() -> None:
    assert request_path(request("/v1/incidents/a%2Fb", query_string="x=1").environ) == "/v1/incidents/a%2Fb"
    assert request_path({"RAW_URI": "http://example.com/v1/incidents?x=1"}) == "/v1/incidents"
    assert request_path({}) == "/"


# --- request → proxy event ---------------------------------------------------------------------


def test_the_event_has_api_gateway_rest_proxy_shape() -> None:
    # GIVEN a PUT with a JSON body, a query string with a repeated key and a blank one
    req = request("/items/a%20b", "PUT", query_string="x=1&x=2&y=z&blank=", data=b'{"name": "x"}',
                  headers={"X-Test": "yes", "User-Agent": "curl/8"}, content_type="application/json")
    route = Route("/items/{item_id}", "PUT", "Echo")

    # WHEN it is made an event
    event = proxy_event(req, route, {"item_id": "a b"})

    # THEN it has every field of a REST API proxy event (payload v1)
    assert event["resource"] == "/items/{item_id}"
    assert event["path"] == "/items/a b"
    assert event["httpMethod"] == "PUT"
    assert event["pathParameters"] == {"item_id": "a b"}
    assert event["queryStringParameters"] == {"x": "2", "y": "z", "blank": ""}  # the last value wins
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["z"], "blank": [""]}
    assert event["headers"]["X-Test"] == "yes"
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["203.0.113.9"]
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["headers"]["X-Forwarded-Port"] == "80"
    assert (event["body"], event["isBase64Encoded"], event["stageVariables"]) == ('{"name": "x"}', False, None)
    context = event["requestContext"]
    assert context["resourcePath"] == "/items/{item_id}"
    assert context["path"] == "/prod/items/a b"
    assert (context["stage"], context["httpMethod"], context["protocol"]) == ("prod", "PUT", "HTTP/1.1")
    assert context["domainName"] == "localhost"
    assert context["identity"]["sourceIp"] == "203.0.113.9"
    assert context["identity"]["userAgent"] == "curl/8"
    assert context["requestId"] == context["extendedRequestId"]
    assert isinstance(context["requestTimeEpoch"], int)


def test_no_query_no_parameters_and_no_body_are_null() -> None:
    event = proxy_event(request("/v1/incidents"), Route("/v1/incidents", "GET", "Api"), {})
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert (event["body"], event["isBase64Encoded"]) == (None, False)


def test_a_body_that_is_not_utf8_is_base64() -> None:
    event = proxy_event(request(method="POST", data=b"\xff\xfe"), Route("/v1/incidents", "POST", "Api"), {})
    assert (event["body"], event["isBase64Encoded"]) == ("//4=", True)
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_header_lines_keep_their_case_and_repeats() -> None:
    # GIVEN the header lines as the server read them (WSGI folds repeats and title-cases names)
    req = request(headers={"Cookie": "a=1; b=2"})
    req.environ[RAW_HEADERS] = [("host", "local"), ("x-dup", "1"), ("X-Dup", "2"), ("Cookie", "a=1"),
                                ("Cookie", "b=2"), ("X-Forwarded-For", "198.51.100.1")]

    # WHEN they are made an event
    event = proxy_event(req, Route("/v1/incidents", "GET", "Api"), {})

    # THEN every line is there as sent; headers holds each name's last value
    assert event["multiValueHeaders"]["Cookie"] == ["a=1", "b=2"]
    assert event["headers"]["Cookie"] == "b=2"
    assert (event["headers"]["x-dup"], event["headers"]["X-Dup"]) == ("1", "2")
    # AND the client's own X-Forwarded-For is kept, not replaced
    assert event["multiValueHeaders"]["X-Forwarded-For"] == ["198.51.100.1"]


# --- the body limit ------------------------------------------------------------------------------


def terminated(body: bytes) -> Request:
    """A request whose body the server has already de-chunked (no Content-Length)."""
    environ = EnvironBuilder(path="/v1/incidents", method="POST").get_environ()
    environ.update({"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
    environ.pop("CONTENT_LENGTH", None)
    return _Request(environ)


def test_a_body_up_to_the_limit_is_read_whole() -> None:
    assert len(read_body(terminated(b"x" * MAX_BODY_BYTES))) == MAX_BODY_BYTES
    assert read_body(request(method="POST", data=b"abc")) == b"abc"


def test_a_body_over_the_limit_is_refused_chunked_or_declared() -> None:
    with pytest.raises(RequestEntityTooLarge):
        read_body(terminated(b"x" * (MAX_BODY_BYTES + 1)))
    declared = request(method="POST", data=b"x")
    declared.environ["CONTENT_LENGTH"] = str(MAX_BODY_BYTES + 2)
    with pytest.raises(RequestEntityTooLarge):
        read_body(declared)


# --- the Lambda's answer → response ------------------------------------------------------------


def test_the_answer_becomes_the_response_with_every_header() -> None:
    response = proxy_response({
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "Set-Cookie": "ignored=1", "Content-Length": "999",
                    "Connection": "keep-alive"},
        "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
        "body": '{"ok": true}',
    })
    assert response.status_code == 201
    assert response.headers.getlist("Set-Cookie") == ["a=1", "b=2"]  # multiValueHeaders win, by any case
    assert response.headers["Content-Type"] == "application/json"
    assert "Connection" not in response.headers
    assert response.get_data() == b'{"ok": true}'
    assert response.get_wsgi_headers(EnvironBuilder().get_environ())["Content-Length"] == "12"


def test_a_base64_answer_is_decoded_and_no_content_type_is_invented() -> None:
    response = proxy_response({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(),
                               "isBase64Encoded": True})
    assert response.get_data() == b"\x00\x01"
    assert "Content-Type" not in response.headers


@pytest.mark.parametrize("answer", [None, "hello", {"body": "x"}, {"statusCode": "abc"}])
def test_what_is_not_a_proxy_answer_is_refused(answer: Any) -> None:
    with pytest.raises(ValueError):
        proxy_response(answer)


# --- the public bucket --------------------------------------------------------------------------


class FakeS3:
    MODIFIED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    def __init__(self) -> None:
        self.objects = {"index.html": b"<h1>ok</h1>", "api/v2/summary.json": b"{}"}
        self.calls: list[str] = []

    def _meta(self, key: str) -> dict[str, Any]:
        if key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        return {"ETag": '"abc"', "LastModified": self.MODIFIED, "ContentType": "text/html",
                "CacheControl": "max-age=60", "ContentLength": len(self.objects[key])}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append(f"head {Key}")
        return self._meta(Key)

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append(f"get {Key}")
        return {**self._meta(Key), "Body": io.BytesIO(self.objects[Key])}


@pytest.fixture
def door() -> Iterator[tuple[Client, FakeS3]]:
    s3 = FakeS3()
    front = FrontDoor(0, invoke=lambda function, event: None, s3_client=lambda: s3)
    front.public_bucket = "public"
    try:
        yield Client(front.wsgi_app), s3
    finally:
        front.stop()


def test_public_objects_are_served_at_their_paths_with_validators(door: tuple[Client, FakeS3]) -> None:
    client, s3 = door
    reply = client.get("/")
    assert (reply.status_code, reply.data) == (200, b"<h1>ok</h1>")
    assert reply.headers["ETag"] == '"abc"'
    assert reply.headers["Last-Modified"] == "Wed, 01 May 2024 12:00:00 GMT"
    assert reply.headers["Cache-Control"] == "max-age=60"
    assert len(reply.headers.getlist("Date")) <= 1
    assert client.get("/api/v2/summary.json").data == b"{}"
    # HEAD asks S3 for the metadata only, and says how long the object is
    head = client.head("/index.html")
    assert (head.status_code, head.data, head.headers["Content-Length"]) == (200, b"", "11")
    assert s3.calls == ["get index.html", "get api/v2/summary.json", "head index.html"]
    missing = client.get("/nothing.json")
    assert missing.status_code == 404 and missing.json == {
        "error": {"code": "not_found", "message": "/nothing.json not found", "details": []}}


@pytest.mark.parametrize("headers,status", [
    ({"If-None-Match": '"abc"'}, 304),
    ({"If-None-Match": 'W/"abc"'}, 304),
    ({"If-None-Match": "*"}, 304),
    ({"If-None-Match": '"other", "abc"'}, 304),
    ({"If-None-Match": '"other"'}, 200),
    ({"If-Modified-Since": "Wed, 01 May 2024 12:00:00 GMT"}, 304),
    ({"If-Modified-Since": "Wed, 01 May 2024 11:59:59 GMT"}, 200),
    ({"If-Modified-Since": "not a date"}, 200),
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2)
    ({"If-None-Match": '"other"', "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, 200),
    # If-Match is not evaluated
    ({"If-Match": "*"}, 200),
    ({"If-Match": '"other"'}, 200),
])
def test_conditional_gets_are_answered_like_s3(door: tuple[Client, FakeS3], headers: dict[str, str],
                                              status: int) -> None:
    client, _ = door
    reply = client.get("/", headers=headers)
    assert reply.status_code == status
    assert reply.headers["ETag"] == '"abc"'
    if status == 304:
        assert reply.data == b"" and "Content-Length" not in reply.headers


def test_other_methods_on_unknown_paths_are_404_in_the_error_shape(door: tuple[Client, FakeS3]) -> None:
    client, _ = door
    reply = client.post("/index.html", data=b"x")
    assert reply.status_code == 404
    assert reply.json == {"error": {"code": "not_found", "message": "no route for POST /index.html",
                                    "details": []}}
