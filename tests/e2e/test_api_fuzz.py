"""API fuzzing: schemathesis reads the local stack's own `/openapi.json` and
sends generated requests, valid and invalid, to every operation with the staff
token. Every answer must be no 5xx, carry a documented status code and content
type, conform to the documented schema, and, when it is a JSON error, have
the shape of docs/contract.md §5.5 (`spec_error_shape`).

Two passes: every operation with whatever ids the fuzzer makes up (mostly
404s past the gates), then the operations on one resource with the ids of a
real component, incident, update and webhook, so that the handlers behind the
404 get fuzzed bodies too.

Bounded for CI on a 2-core machine: a fixed seed and `derandomize`, so a run
is reproducible, and MAX_EXAMPLES per operation and phase (the coverage phase
adds its own fixed set of boundary cases). What it found is kept, readable and
without schemathesis, in test_api_fuzz_findings.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import STAFF_TOKEN, Api

pytestmark = pytest.mark.e2e

# Cases per operation in the fuzzing phase (each generation mode); the
# coverage phase adds its fixed boundary cases. docs/testing.md has the wall time.
MAX_EXAMPLES = 8
MAX_EXAMPLES_ON_EXISTING = 4
SEED = 20240906


def bounded(max_examples: int) -> settings:
    # Hypothesis' "derandomize" and no example database: the same cases every run.
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@schemathesis.check
def spec_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """docs/contract.md §5.5: every JSON error is {"error": {"code", "message", "details"}}; a 422 names
    its fields; a 401 carries a Bearer challenge and a 429 a Retry-After."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    if not content_type.startswith("application/json"):
        return None  # the HTML pages behind email links; their JSON is checked where they answer JSON
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the contract's error shape: {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "details"}, f"error keys: {error!r}"
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], list), error
    if response.status_code == 422:
        assert error["details"], f"a 422 names its fields: {error!r}"
        assert all(isinstance(d, dict) and isinstance(d.get("field"), str) and d["field"]
                   for d in error["details"]), f"a 422 names its fields: {error!r}"
    if response.status_code == 401:
        assert response.headers.get("www-authenticate", [""])[0].startswith("Bearer"), "401 without a challenge"
    if response.status_code == 429:
        assert response.headers.get("retry-after"), "429 without Retry-After"
    return True


CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    spec_error_shape,
]


def load(stack: Any, max_examples: int, mode: str = "all", parameters: dict[str, str] | None = None) -> Any:
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {STAFF_TOKEN}"},
        "request-timeout": 30,
        "generation": {"mode": mode, "deterministic": True, "database": "none", "max-examples": max_examples},
        # Examples: the document has none. Stateful: links between operations are not documented.
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        "parameters": parameters or {},
    })
    return schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json", config=config, timeout=30)


@pytest.fixture(scope="module")
def api_schema(stack: Any) -> Any:
    return load(stack, MAX_EXAMPLES)


@pytest.fixture(scope="module")
def existing(api: Api) -> dict[str, str]:
    """A real component, incident (with its update) and webhook, whose ids the second pass uses."""
    assert api("PUT", "/v1/components/fuzz-target", {"name": "Fuzz target"}).status in (200, 201)
    reply = api("POST", "/v1/incidents", {"name": "Fuzzed", "status": "investigating", "body": "x",
                                          "components": {"fuzz-target": "degraded_performance"}})
    assert reply.status == 201, reply.raw
    incident = reply.json
    # Only webhook.test events: the incidents the fuzzer opens do not queue deliveries to it.
    reply = api("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/fuzz", "events": ["webhook.test"]})
    assert reply.status == 201, reply.raw
    return {
        "component_id": "fuzz-target",
        "incident_id": str(incident["id"]),
        "update_id": str(incident["incident_updates"][0]["id"]),
        "webhook_id": str(reply.json["id"]),
    }


@pytest.fixture(scope="module")
def existing_schema(stack: Any, existing: dict[str, str]) -> Any:
    # Valid requests only: the invalid ones stop at validation, as in the first pass.
    pinned = {f"path.{name}": value for name, value in existing.items()}
    return load(stack, MAX_EXAMPLES_ON_EXISTING, "positive", pinned)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32 names each operation's subtest through Node._nodeid,
    # which pytest 9.2 replaced with Node._id; give it the attribute it reads.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


every_operation = schemathesis.pytest.from_fixture("api_schema")
# The operations on one resource; not DELETE, which would remove what the others are meant to find.
on_existing_resources = schemathesis.pytest.from_fixture("existing_schema").include(
    path_regex=r"\{").exclude(method="DELETE")


@every_operation.parametrize()
@bounded(MAX_EXAMPLES)
def test_every_operation(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)


@on_existing_resources.parametrize()
@bounded(MAX_EXAMPLES_ON_EXISTING)
def test_operations_on_existing_resources(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
