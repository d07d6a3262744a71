"""Bad input at the HTTP edge, as an attacker or a clumsy client sends it:
each gets the 4xx docs/contract.md §5.5 names, with the field, and never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.e2e

VALID = {"name": "SMTP delays", "status": "investigating", "body": "We are looking into it."}


@pytest.fixture(scope="module")
def incident_id(api: Api) -> str:
    api("PUT", "/v1/components/smtp-email", {"name": "SMTP Email", "group": "Email"})
    reply = api("POST", "/v1/incidents", VALID)
    assert reply.status == 201
    return str(reply.json["id"])


def error_of(reply: Any) -> dict[str, Any]:
    assert reply.headers["Content-Type"].startswith("application/json")
    error = reply.json["error"]
    assert set(error) == {"code", "message", "details"}
    return dict(error)


def fields(reply: Any) -> set[str]:
    return {d.get("field") for d in error_of(reply)["details"]}


def test_no_token_is_401_with_a_challenge(api: Api) -> None:
    reply = api("POST", "/v1/incidents", VALID, auth=False)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert error_of(reply)["code"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer wrong-token", "Basic c3RhZmY6cGFzcw==", "Bearer", "sf_test"])
def test_wrong_token_is_401(api: Api, header: str) -> None:
    reply = api("GET", "/v1/incidents", headers={"Authorization": header}, auth=False)
    assert reply.status == 401


def test_unauthenticated_invalid_body_is_401_not_a_schema_lesson(api: Api) -> None:
    reply = api("POST", "/v1/incidents", {"name": 1}, auth=False)
    assert reply.status == 401


def test_malformed_json_is_400(api: Api) -> None:
    reply = api("POST", "/v1/incidents", raw=b'{"name": "x", ')
    assert reply.status == 400
    assert error_of(reply)["code"] == "malformed_request"


def test_unknown_status_is_422_naming_status(api: Api) -> None:
    reply = api("POST", "/v1/incidents", {**VALID, "status": "on_fire"})
    assert reply.status == 422
    assert fields(reply) == {"status"}


def test_ten_thousand_character_name_is_422_naming_name(api: Api) -> None:
    reply = api("POST", "/v1/incidents", {**VALID, "name": "x" * 10_000})
    assert reply.status == 422
    assert fields(reply) == {"name"}


def test_one_mebibyte_body_is_413(api: Api) -> None:
    reply = api("POST", "/v1/incidents", {**VALID, "body": "x" * (1 << 20)})
    assert reply.status == 413
    assert error_of(reply)["code"] == "payload_too_large"


def test_unknown_incident_is_404(api: Api) -> None:
    assert api("GET", "/v1/incidents/doesnotexist1").status == 404
    reply = api("POST", "/v1/incidents/doesnotexist1/updates", {"status": "resolved", "body": "x"})
    assert reply.status == 404
    assert error_of(reply)["code"] == "not_found"


def test_unknown_component_is_422_naming_it(api: Api, incident_id: str) -> None:
    reply = api("POST", f"/v1/incidents/{incident_id}/updates",
                {"status": "identified", "body": "x", "components": {"no-such-thing": "major_outage"}})
    assert reply.status == 422
    assert fields(reply) == {"components.no-such-thing"}


@pytest.mark.parametrize("body,field", [
    ({**VALID, "surprise": 1}, "surprise"),
    ({**VALID, "display_at": "2999-01-01T00:00:00Z"}, "display_at"),
    ({**VALID, "display_at": "2018-08-30T18:18:00"}, "display_at"),  # no time zone
    ({**VALID, "components": {"Bad Slug!": "major_outage"}}, "components.Bad Slug!"),
    ({**VALID, "components": {f"c{i}": "major_outage" for i in range(98)}}, "components"),  # 97 at most
    ({**VALID, "body": ""}, "body"),
    ({**VALID, "notify": "yes please"}, "notify"),
])
def test_invalid_fields_are_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    reply = api("POST", "/v1/incidents", body)
    assert reply.status == 422, reply.raw
    assert field in fields(reply)


def test_json_that_is_not_an_object_is_422(api: Api) -> None:
    assert api("POST", "/v1/incidents", raw=b"[1, 2]").status == 422


def test_bad_component_id_and_bad_query_are_422(api: Api) -> None:
    assert fields(api("PUT", "/v1/components/NOT_A_SLUG", {"name": "x"})) == {"component_id"}
    assert fields(api("GET", "/v1/incidents?limit=0")) == {"limit"}
    assert api("GET", "/v1/incidents?cursor=!!!").status == 400


def test_repeated_idempotency_key_returns_the_first_answer_and_posts_once(api: Api, incident_id: str) -> None:
    # GIVEN an update posted with an Idempotency-Key
    update = {"status": "identified", "body": "Found it."}
    headers = {"Idempotency-Key": f"retry-{incident_id}"}
    first = api("POST", f"/v1/incidents/{incident_id}/updates", update, headers=headers)
    assert first.status == 201
    # WHEN the client retries it (its connection dropped)
    second = api("POST", f"/v1/incidents/{incident_id}/updates", update, headers=headers)
    # THEN it gets the same answer and the incident holds the update once
    assert second.status == 201 and second.json == first.json
    bodies = [u["body"] for u in api("GET", f"/v1/incidents/{incident_id}").json["incident_updates"]]
    assert bodies.count("Found it.") == 1
    # AND the same key with a different body is refused, naming the header
    third = api("POST", f"/v1/incidents/{incident_id}/updates", {**update, "body": "Other"}, headers=headers)
    assert third.status == 422 and fields(third) == {"Idempotency-Key"}


def test_xss_text_is_stored_verbatim_and_returned_json_escaped(api: Api) -> None:
    hostile = "<script>alert(1)</script>"
    body = '<img src=x onerror=alert(1)> & "quotes"\r\nBcc: victim@example.com'
    reply = api("POST", "/v1/incidents", {**VALID, "name": hostile, "body": body})
    assert reply.status == 201
    assert b"<script>" not in reply.raw and b"<img" not in reply.raw
    stored = api("GET", f"/v1/incidents/{reply.json['id']}").json
    assert stored["name"] == hostile
    assert stored["incident_updates"][0]["body"] == body


def test_no_request_in_this_module_got_a_5xx(api: Api) -> None:
    # A sweep of odd inputs on every route: 4xx, never 5xx.
    odd = [b"", b"null", b"\xff\xfe", b"{}", b'{"status": null}', json.dumps({"body": ["x"]}).encode()]
    routes = [("POST", "/v1/incidents"), ("PUT", "/v1/components/x"), ("PATCH", "/v1/components/x"),
              ("POST", "/v1/incidents/abc/updates"), ("PATCH", "/v1/incidents/abc/updates/def"),
              ("PUT", "/v1/incidents/abc/postmortem")]
    for method, path in routes:
        for raw in odd:
            reply = api(method, path, raw=raw)
            assert 400 <= reply.status < 500, (method, path, raw, reply.status, reply.raw[:200])
