"""The role table (status_fanout.api.roles) against the routes of the Api, and
the staff gate's refusals: below the route's role, a route missing from the
table (fail closed), each with its audit entry."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from status_fanout.api import http_errors
from status_fanout.api.auth import hash_token
from status_fanout.api.roles import ROLES
from status_fanout.api.routing import Api, DocumentedRouter
from status_fanout.dynamo import Store
from status_fanout.settings import Settings, get_settings
from tests.conftest import ROOT

BOOTSTRAP_TOKEN = "sf_unit-bootstrap-token"


@pytest.fixture(scope="module")
def api_app() -> Iterator[ModuleType]:
    """The API handler module, imported as Lambda imports it (nothing is called)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TABLE_NAME", "unit")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        get_settings.cache_clear()
        spec = importlib.util.spec_from_file_location("api_app_for_roles", ROOT / "functions" / "api" / "app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
        get_settings.cache_clear()


def test_every_staff_route_of_the_api_has_a_role(api_app: ModuleType) -> None:
    # GIVEN every route the API serves that needs a staff token
    staff = {(r.method, r.rule) for r in api_app.api.routes if not r.public}
    # THEN the role table names each one (a route missing from it is refused to every key)
    missing = sorted(staff - set(ROLES))
    assert not missing, f"add these staff routes to status_fanout/api/roles.py: {missing}"
    # AND names no route the API does not serve
    assert not sorted(set(ROLES) - staff)


def test_the_table_is_one_of_the_three_roles_per_route() -> None:
    assert set(ROLES.values()) <= {"viewer", "responder", "admin"}
    # Reads are for every role, but keys, the audit log and subscribers' addresses.
    admin_reads = {rule for (method, rule), role in ROLES.items() if method == "GET" and role == "admin"}
    assert admin_reads == {"/v1/keys", "/v1/audit", "/v1/subscribers", "/v1/subscribers/export"}
    assert all(role != "viewer" for (method, _), role in ROLES.items() if method != "GET")


class RecordingClient:
    """A DynamoDB client stand-in that keeps what it was asked to write."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs["Item"])
        return {}


def gate_over(router: DocumentedRouter) -> tuple[Api, RecordingClient]:
    api = Api()
    client = RecordingClient()
    http_errors.install(api, Settings(table_name="unit", staff_token_sha256=(hash_token(BOOTSTRAP_TOKEN),)),
                        Store("unit", client=client))
    api.include(router)
    return api, client


def event(method: str, path: str, token: str | None = BOOTSTRAP_TOKEN) -> dict[str, Any]:
    return {"httpMethod": method, "path": path, "resource": path, "body": None, "isBase64Encoded": False,
            "headers": {"Authorization": f"Bearer {token}"} if token else {}, "queryStringParameters": None,
            "pathParameters": None,
            "requestContext": {"requestId": "req-1", "identity": {"sourceIp": "198.51.100.7"}}}


def test_a_staff_route_missing_from_the_table_is_refused_even_to_an_admin() -> None:
    # GIVEN a staff route nobody gave a role
    router = DocumentedRouter()
    ran: list[int] = []

    @router.operation("POST", "/v1/unlisted", "A route the table forgot", status=201)
    def unlisted() -> dict[str, Any]:
        ran.append(1)
        return {}

    api, client = gate_over(router)
    # WHEN a bootstrap admin calls it
    answer = api.resolver.resolve(event("POST", "/v1/unlisted"), None)
    # THEN it is refused with 403, the route never ran, and the refusal is audited
    assert answer["statusCode"] == 403 and not ran
    assert json.loads(answer["body"])["error"]["code"] == "forbidden"
    [entry] = client.puts
    assert entry["status"] == {"N": "403"} and entry["actor"] == {"S": "bootstrap"}
    assert entry["request_id"] == {"S": "req-1"} and entry["source_ip"] == {"S": "198.51.100.7"}


def test_a_bad_token_is_refused_without_reading_the_table_and_audited_as_anonymous() -> None:
    router = DocumentedRouter()

    @router.operation("GET", "/v1/components", "Listed in the table")
    def listed() -> dict[str, Any]:
        return {}

    api, client = gate_over(router)
    # WHEN a request comes with a token that is no key (no sfk_ prefix: no lookup)
    answer = api.resolver.resolve(event("GET", "/v1/components", "guess"), None)
    # THEN 401, and one entry: anonymous, the path, the status
    assert answer["statusCode"] == 401
    [entry] = client.puts
    assert entry["actor"] == {"S": "anonymous"} and entry["status"] == {"N": "401"}
    assert "key_id" not in entry and "role" not in entry
    # AND a read that passes is not audited
    assert api.resolver.resolve(event("GET", "/v1/components"), None)["statusCode"] == 200
    assert len(client.puts) == 1
