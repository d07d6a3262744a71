"""What the API fuzzing (test_api_fuzz.py) found, each kept as the request
that found it, so that it stays fixed without schemathesis.

Two kinds: answers that broke docs/contract.md §5.5 (a 500 for bad input, a 501, the wrong
status), and answers that were right but that /openapi.json did not document
(the status code, the content type, or the error's shape).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, Reply, http

pytestmark = pytest.mark.e2e

NOT_UTF8 = b'{"email": "\xff\xfe\x00\x84 @example.com"}'
ODD_ID = "%C2%84"  # U+0084, a control character: outside the resolver's path patterns


@pytest.fixture(scope="module")
def doc(api: Api) -> dict[str, Any]:
    reply = api("GET", "/openapi.json", auth=False)
    assert reply.status == 200
    return dict(reply.json)


def error_of(reply: Reply) -> dict[str, Any]:
    """The shape of docs/contract.md §5.5, exactly."""
    assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
    body = reply.json
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return dict(body["error"])


def documented(doc: dict[str, Any], method: str, path: str, reply: Reply) -> dict[str, Any]:
    """Assert the document names this answer's status and content type; return that response's entry."""
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(reply.status) in responses, f"{method} {path}: {reply.status} not in {sorted(responses)}"
    response = responses[str(reply.status)]
    media_type = reply.headers.get("Content-Type", "").split(";")[0]
    if reply.status != 204:
        assert media_type in response.get("content", {}), f"{method} {path} {reply.status}: {media_type}"
    return dict(response)


# --- answers that broke docs/contract.md §5.5 ----------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_a_subscribe_body_that_is_not_utf8_is_400_not_500(api: Api, doc: dict[str, Any], content_type: str) -> None:
    # Found: POST /v1/subscriptions with bytes that are not UTF-8 was a 500 internal_error.
    reply = api("POST", "/v1/subscriptions", raw=NOT_UTF8, headers={"Content-Type": content_type}, auth=False)
    assert reply.status == 400, reply.raw
    assert error_of(reply)["code"] == "malformed_request"
    documented(doc, "POST", "/v1/subscriptions", reply)


def test_a_link_page_body_that_is_not_utf8_is_400_not_500(api: Api) -> None:
    # The same decoding served the pages behind email links.
    reply = api("POST", "/v1/subscriptions/manage", raw=b"components=\xff\xfe",
                headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=False)
    assert reply.status == 400, reply.raw


@pytest.mark.parametrize("method", ["TRACE", "QUERY"])
def test_a_method_no_route_takes_is_405_in_the_spec_shape_not_501(api: Api, method: str) -> None:
    # Found: the local front door answered http.server's HTML 501 to methods it had no handler for.
    reply = http(api.url + "/v1/components", method, headers={"Authorization": f"Bearer {api.token}"})
    assert reply.status == 405
    assert error_of(reply)["code"] == "method_not_allowed"
    assert error_of(http(api.url + "/v1/nowhere", method))["code"] == "not_found"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_component_id_outside_the_route_pattern_is_422_naming_it(api: Api, method: str) -> None:
    # Found: PUT /v1/components/%C2%84 was 404 "no such route", not the 422 every other bad slug gets.
    body = {"name": "x"} if method == "PUT" else {"status": "major_outage"}
    reply = api(method, f"/v1/components/{ODD_ID}", body)
    assert reply.status == 422, reply.raw
    assert {d["field"] for d in error_of(reply)["details"]} == {"component_id"}


def test_an_id_outside_the_route_pattern_still_needs_the_token(api: Api) -> None:
    # A guard on that fix: the 422 (or 404) comes after the staff gate, never before it.
    assert api("PUT", f"/v1/components/{ODD_ID}", {"name": "x"}, auth=False).status == 401
    assert api("GET", f"/v1/incidents/{ODD_ID}", auth=False).status == 401
    reply = api("GET", f"/v1/incidents/{ODD_ID}")
    assert reply.status == 404 and error_of(reply)["code"] == "not_found"


# --- answers the document did not name ----------------------------------------------------


def test_replacing_a_component_is_a_documented_200(api: Api, doc: dict[str, Any]) -> None:
    # Found: only 201 was documented; a PUT that replaces answers 200.
    first = api("PUT", "/v1/components/fuzz-found", {"name": "Found"})
    again = api("PUT", "/v1/components/fuzz-found", {"name": "Found again"})
    assert (first.status, again.status) == (201, 200)
    for reply in (first, again):
        documented(doc, "PUT", "/v1/components/{component_id}", reply)


@pytest.mark.parametrize("method,path,template", [
    ("GET", "/v1/incidents/nosuchincident", "/v1/incidents/{incident_id}"),
    ("POST", "/v1/incidents/nosuchincident/updates", "/v1/incidents/{incident_id}/updates"),
    ("PATCH", "/v1/components/no-such-component", "/v1/components/{component_id}"),
    ("GET", "/v1/webhooks/nosuchwebhook", "/v1/webhooks/{webhook_id}"),
    ("DELETE", "/v1/webhooks/nosuchwebhook", "/v1/webhooks/{webhook_id}"),
    ("POST", "/v1/webhooks/nosuchwebhook/test", "/v1/webhooks/{webhook_id}/test"),
    ("DELETE", "/v1/subscribers/nosuchsubscriber", "/v1/subscribers/{subscriber_id}"),
])
def test_unknown_ids_are_a_documented_404(api: Api, doc: dict[str, Any], method: str, path: str,
                                          template: str) -> None:
    # Found: no operation documented 404.
    body = {"status": "resolved", "body": "x"} if path.endswith("/updates") else (
        {"status": "major_outage"} if method == "PATCH" else None)
    reply = api(method, path, body)
    assert reply.status == 404
    assert error_of(reply)["code"] == "not_found"
    documented(doc, method, template, reply)


@pytest.mark.parametrize("path", ["/v1/incidents", "/v1/webhooks", "/v1/subscribers"])
def test_a_bad_cursor_is_a_documented_400(api: Api, doc: dict[str, Any], path: str) -> None:
    # Found: lists answered 400 for a cursor they never issued; 400 was documented only with a body.
    reply = api("GET", f"{path}?cursor=000000")
    assert reply.status == 400
    error_of(reply)
    documented(doc, "GET", path, reply)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("page", ["confirm", "manage", "unsubscribe"])
def test_a_link_page_without_its_token_is_a_documented_html_400(api: Api, doc: dict[str, Any], method: str,
                                                                 page: str) -> None:
    # Found: the pages behind email links answer HTML, documented as JSON; their 400 was undocumented.
    reply = api(method, f"/v1/subscriptions/{page}", auth=False)
    assert reply.status == 400
    assert reply.headers["Content-Type"].startswith("text/html")
    documented(doc, method, f"/v1/subscriptions/{page}", reply)
    parameters = doc["paths"][f"/v1/subscriptions/{page}"][method.lower()]["parameters"]
    assert "token" in {p["name"] for p in parameters if p["in"] == "query"}


def test_a_reused_idempotency_key_on_a_route_without_a_body_is_a_documented_422(api: Api,
                                                                                 doc: dict[str, Any]) -> None:
    # Found: the 422 documented here was Powertools' own ({"detail": [...]}), not the one the
    # Idempotency-Key gate answers on every POST.
    webhook = api("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/found", "events": ["webhook.test"]})
    assert webhook.status == 201
    path = f"/v1/webhooks/{webhook.json['id']}/rotate-secret"
    headers = {"Idempotency-Key": "fuzz-found-rotate"}
    assert api("POST", path, headers=headers).status == 201
    reply = api("POST", path, raw=b'{"other": true}', headers=headers)
    assert reply.status == 422
    assert {d["field"] for d in error_of(reply)["details"]} == {"Idempotency-Key"}
    response = documented(doc, "POST", "/v1/webhooks/{webhook_id}/rotate-secret", reply)
    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_every_documented_error_has_the_spec_shape(doc: dict[str, Any]) -> None:
    # Found: errors were documented as a bare object, and every operation carried Powertools'
    # own 422 ({"detail": [...]}, HTTPValidationError), which this API never answers.
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_the_document_names_what_the_gates_check(doc: dict[str, Any]) -> None:
    # Found: the slug rule, the Idempotency-Key header, a 204 without a body, the subscribe throttle.
    put = doc["paths"]["/v1/components/{component_id}"]["put"]
    assert put["parameters"][0]["schema"]["pattern"] == "^[a-z0-9-]{1,64}$"
    for path, operations in doc["paths"].items():
        if "post" in operations:
            names = {p["name"] for p in operations["post"]["parameters"] if p["in"] == "header"}
            assert "Idempotency-Key" in names, path
    assert "content" not in doc["paths"]["/v1/webhooks/{webhook_id}"]["delete"]["responses"]["204"]
    assert "429" in doc["paths"]["/v1/subscriptions"]["post"]["responses"]
    assert "410" in doc["paths"]["/v1/subscriptions/confirm"]["get"]["responses"]
