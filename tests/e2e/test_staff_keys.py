"""Staff keys, roles and the audit log (SPEC §12, docs/staff-keys.md), through
the local stack's HTTP API as a staff member's client meets them."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from status_fanout.api.roles import RANK, ROLES
from tests.conftest import Api, Reply
from tests.support.receivers import receivers

pytestmark = pytest.mark.e2e

ROLE_NAMES = ("admin", "responder", "viewer")
# A value for each path parameter that matches its pattern and names nothing:
# the allowed role then gets a 404 or 422, never a change.
PARAMETER_VALUES = {"component_id": "no-such-component", "key_id": "key_0000000000000000"}


def mint(api: Api, name: str, role: str) -> Api:
    """A key of `role`, as a client holding it."""
    made = api("POST", "/v1/keys", {"name": name, "role": role})
    assert made.status == 201, made.raw
    return Api(api.url, made.json["key"])


@pytest.fixture(scope="module")
def keys(api: Api) -> dict[str, Api]:
    return {role: mint(api, f"{role} key", role) for role in ROLE_NAMES}


def audit(api: Api, **query: str) -> list[dict[str, Any]]:
    """Every audit entry the query matches, newest first, page by page."""
    entries: list[dict[str, Any]] = []
    cursor = ""
    while True:
        params = "&".join(f"{k}={v}" for k, v in {**query, "limit": "100"}.items())
        page = api("GET", f"/v1/audit?{params}" + (f"&cursor={cursor}" if cursor else ""))
        assert page.status == 200, page.raw
        entries += page.json["entries"]
        cursor = page.json["next_cursor"]
        if not cursor:
            return entries


def test_a_key_is_shown_once_and_listed_without_its_secret(api: Api) -> None:
    # GIVEN an admin minting a key
    made = api("POST", "/v1/keys", {"name": "alice", "role": "responder"})
    # THEN it is shown once, sfk_..., with its id, name, role and creation time
    assert made.status == 201
    assert re.fullmatch(r"sfk_[A-Za-z0-9_-]{43}", made.json["key"])
    assert {"key_id", "name", "role", "created_at"} <= set(made.json)
    # AND the list shows it (and its last use, once it was used) but never the key nor its hash
    assert Api(api.url, made.json["key"])("GET", "/v1/incidents").status == 200
    listed = api("GET", "/v1/keys?limit=100")
    alice = next(k for k in listed.json["keys"] if k["key_id"] == made.json["key_id"])
    assert alice["name"] == "alice" and alice["role"] == "responder" and alice["last_used_at"]
    assert set(alice) == {"key_id", "name", "role", "created_at", "last_used_at"}
    assert made.json["key"] not in listed.raw.decode()


def test_a_second_key_with_a_taken_name_or_a_reserved_name_is_refused(api: Api) -> None:
    assert api("POST", "/v1/keys", {"name": "bob", "role": "viewer"}).status == 201
    # WHEN the name is taken, or is one the audit log gives others
    taken = api("POST", "/v1/keys", {"name": "bob", "role": "admin"})
    reserved = api("POST", "/v1/keys", {"name": "bootstrap", "role": "admin"})
    bad_role = api("POST", "/v1/keys", {"name": "carol", "role": "root"})
    # THEN 409 for the taken name, 422 naming the field otherwise
    assert taken.status == 409
    assert reserved.status == 422 and reserved.json["error"]["details"][0]["field"] == "name"
    assert bad_role.status == 422 and bad_role.json["error"]["details"][0]["field"] == "role"


def test_a_revoked_key_is_refused_on_its_next_request(api: Api) -> None:
    # GIVEN a key that works
    made = api("POST", "/v1/keys", {"name": "leaver", "role": "admin"})
    leaver = Api(api.url, made.json["key"])
    assert leaver("GET", "/v1/incidents").status == 200
    # WHEN an admin revokes it
    assert api("DELETE", f"/v1/keys/{made.json['key_id']}").status == 204
    # THEN its next request is refused, and it is gone from the list
    refused = leaver("GET", "/v1/incidents")
    assert refused.status == 401 and refused.json["error"]["code"] == "unauthorized"
    assert made.json["key_id"] not in api("GET", "/v1/keys?limit=100").raw.decode()
    # AND revoking it again, or an id that never was, is a 404
    assert api("DELETE", f"/v1/keys/{made.json['key_id']}").status == 404
    assert api("DELETE", "/v1/keys/nonsense").status == 404


def staff_operations(api: Api) -> list[tuple[str, str, str]]:
    """(method, OpenAPI path, role table rule) of every staff operation the API documents."""
    document = api("GET", "/openapi.json", auth=False).json
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if operation.get("security"):
                found.append((method.upper(), path, re.sub(r"\{(\w+)\}", r"<\1>", path)))
    return found


def test_every_staff_route_answers_each_role_as_the_role_table_says(api: Api, keys: dict[str, Api]) -> None:
    # GIVEN every staff operation of the OpenAPI document, and a key of each role
    operations = staff_operations(api)
    assert len(operations) == len(ROLES)
    for method, path, rule in operations:
        needed = ROLES[(method, rule)]
        url = re.sub(r"\{(\w+)\}", lambda m: PARAMETER_VALUES.get(m.group(1), "nothing-here"), path)
        for role, client in keys.items():
            # WHEN that role calls it (with ids that name nothing and an empty body)
            body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
            reply = client(method, url, body)
            # THEN a role below the route's is refused with 403 naming the role needed; any other is not
            if RANK[role] >= RANK[needed]:
                assert reply.status != 403 and reply.status < 500, (role, method, path, reply.status, reply.raw)
                if method == "GET" and "{" not in path:  # a list or export names nothing missing: it answers
                    assert 200 <= reply.status < 300, (role, method, path, reply.status, reply.raw)
            else:
                assert reply.status == 403, (role, method, path, reply.status)
                assert reply.json["error"]["code"] == "forbidden" and needed in reply.json["error"]["message"]


def test_a_401_and_a_403_appear_in_the_audit_log(api: Api, keys: dict[str, Api]) -> None:
    # GIVEN a request with a made-up token and a viewer trying to open an incident
    stranger = Api(api.url, "sfk_made-up-token")
    assert stranger("GET", "/v1/components").status == 401
    assert keys["viewer"]("POST", "/v1/incidents", {"name": "x", "status": "investigating", "body": "x"}).status == 403
    # WHEN an admin reads the audit log
    anonymous = audit(api, actor="anonymous")
    viewer = audit(api, actor="viewer%20key")
    # THEN both are there: who, what, the outcome, the request id and source IP
    refused = next(e for e in anonymous if e["path"] == "/v1/components" and e["method"] == "GET")
    assert refused["status"] == 401 and refused["request_id"] and refused["source_ip"] == "127.0.0.1"
    forbidden = next(e for e in viewer if e["path"] == "/v1/incidents" and e["method"] == "POST")
    assert forbidden["status"] == 403 and forbidden["role"] == "viewer" and forbidden["key_id"]
    # AND the log is for admins only
    assert keys["responder"]("GET", "/v1/audit").status == 403


def test_an_update_carries_created_by_in_the_staff_api_and_not_in_the_public_json_nor_webhooks(
    stack: Any, api: Api, keys: dict[str, Api]
) -> None:
    with receivers() as rx:
        # GIVEN a webhook endpoint of each body format
        for path, body_format in (("/standard", "standard"), ("/statuspage", "statuspage")):
            assert api("POST", "/v1/webhooks", {"url": f"{rx.url}{path}", "format": body_format}).status == 201
        # AND an incident opened with the bootstrap token, updated with the responder's key
        opened = api("POST", "/v1/incidents", {"name": "Mail delayed", "status": "investigating",
                                               "body": "Looking."})
        assert opened.status == 201
        incident_id = opened.json["id"]
        updated = keys["responder"]("POST", f"/v1/incidents/{incident_id}/updates",
                                    {"status": "identified", "body": "Found it."})
        assert updated.status == 201
        # THEN the staff API says who opened it and who posted each update
        shown = api("GET", f"/v1/incidents/{incident_id}").json
        assert [u["created_by"] for u in shown["incident_updates"]] == ["responder key", "bootstrap"]
        assert shown["created_by"] == "bootstrap"
        # AND neither the public JSON of the incident nor any webhook body does
        rx.wait_for(lambda: len(rx.at("/standard")) >= 2 and len(rx.at("/statuspage")) >= 2)
        stack.wait_idle(timeout=30)
        public = api("GET", f"/api/v2/incidents/{incident_id}.json", auth=False)
        assert public.status == 200 and "Found it." in public.raw.decode()
        assert "created_by" not in public.raw.decode()
        bodies = [r.body.decode() for r in rx.at("/standard") + rx.at("/statuspage")]
        assert any("Found it." in b for b in bodies)
        assert not any("created_by" in b or "responder key" in b for b in bodies)
    # AND the audit log names the incident each write changed
    writes = [e for e in audit(api, actor="responder%20key") if e["target_id"] == incident_id]
    assert [(e["method"], e["status"]) for e in writes] == [("POST", 201)]


def test_a_maintenance_and_its_updates_say_who_posted_them_in_the_staff_api(
    api: Api, keys: dict[str, Api]
) -> None:
    # GIVEN a maintenance scheduled by the responder, cancelled by the bootstrap admin
    soon = datetime.now(UTC) + timedelta(days=2)
    window = {"scheduled_for": soon.isoformat(), "scheduled_until": (soon + timedelta(hours=1)).isoformat()}
    created = keys["responder"]("POST", "/v1/maintenances", {"name": "Upgrade", "body": "Upgrading.", **window})
    assert created.status == 201, created.raw
    assert api("POST", f"/v1/maintenances/{created.json['id']}/cancel", {}).status == 200
    # THEN the staff API names each
    shown = api("GET", f"/v1/maintenances/{created.json['id']}").json
    assert shown["created_by"] == "responder key"
    assert [u["created_by"] for u in shown["incident_updates"]] == ["bootstrap", "responder key"]


def test_a_burst_of_50_concurrent_posts_leaves_exactly_50_audit_entries(api: Api) -> None:
    # GIVEN an incident and a key used only for this burst
    burst = mint(api, "burst", "responder")
    opened = burst("POST", "/v1/incidents", {"name": "Burst", "status": "investigating", "body": "0"})
    incident_id = opened.json["id"]

    def post(n: int) -> Reply:
        return burst("POST", f"/v1/incidents/{incident_id}/updates", {"status": "identified", "body": f"{n}"})

    # WHEN 50 updates are posted at once
    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(post, range(1, 51)))
    assert [r.status for r in replies] == [201] * 50
    # THEN the audit log holds exactly one entry for each, and one for the incident's opening
    entries = audit(api, actor="burst")
    updates = [e for e in entries if e["path"] == f"/v1/incidents/{incident_id}/updates"]
    assert len(updates) == 50 and len({e["request_id"] for e in updates}) == 50
    assert all(e["status"] == 201 and e["target_id"] == incident_id for e in updates)
    assert len(entries) == 51


def test_an_idempotent_replay_is_its_own_entry_marked_replayed(api: Api) -> None:
    # GIVEN a POST sent twice with one Idempotency-Key
    replayer = mint(api, "replayer", "responder")
    body = {"name": "Once", "status": "investigating", "body": "Once."}
    first = replayer("POST", "/v1/incidents", body, headers={"Idempotency-Key": "once-1"})
    again = replayer("POST", "/v1/incidents", body, headers={"Idempotency-Key": "once-1"})
    assert first.status == again.status == 201 and first.json["id"] == again.json["id"]
    # THEN the log has the change once, and the replay as a request that changed nothing
    entries = audit(api, actor="replayer")
    assert sorted(e["replayed"] for e in entries) == [False, True]
    assert {e["target_id"] for e in entries} == {first.json["id"]}


def test_an_entry_says_what_the_route_answered_when_a_put_replaces(api: Api) -> None:
    # GIVEN a component created, then replaced, by one key
    placer = mint(api, "placer", "responder")
    assert placer("PUT", "/v1/components/audited", {"name": "Audited"}).status == 201
    assert placer("PUT", "/v1/components/audited", {"name": "Audited again"}).status == 200
    # THEN its two entries (written in the changes' transactions) say 201, then 200
    entries = audit(api, actor="placer")
    assert [(e["target_id"], e["status"]) for e in entries] == [("audited", 200), ("audited", 201)]


def test_audit_query_bounds_are_validated_naming_the_field(api: Api) -> None:
    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("since=yesterday", "since"),
                         ("cursor=bm90LWEtY3Vyc29y", "cursor")):
        reply = api("GET", f"/v1/audit?{query}")
        assert reply.status in (400, 422), (query, reply.status)
        assert reply.json["error"]["details"][0]["field"] == field
