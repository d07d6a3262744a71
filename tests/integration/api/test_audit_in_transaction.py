"""A staff write's audit entry in the transaction that commits the change
(docs/staff-keys.md, "Audit log"), against moto server over HTTP, the table
built from template.yaml: a backfill whose history spans several writes
still has its one entry in the first transaction, beside the incident."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from status_fanout import audit
from status_fanout.api import http_errors
from status_fanout.dynamo import TRANSACTION_LIMIT
from status_fanout.incidents.models import MAX_COMPONENTS_PER_REQUEST, ComponentPut, IncidentCreate
from status_fanout.incidents.service import StatusService
from status_fanout.incidents.store import IncidentStore

pytestmark = pytest.mark.integration

COMPONENTS = [f"aud-{n:02d}" for n in range(MAX_COMPONENTS_PER_REQUEST)]


class RecordingClient:
    """The real client (moto over HTTP), keeping each transaction it sends."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.transactions: list[list[dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        reply = self.client.transact_write_items(**kwargs)
        self.transactions.append(kwargs["TransactItems"])
        return reply


@pytest.fixture(scope="module")
def table(stack: Any) -> str:
    name = str(stack.physical["StatusTable"])
    service = StatusService(IncidentStore(name, boto3.client("dynamodb")))
    for component in COMPONENTS:
        service.put_component(component, ComponentPut(name=component))
    return name


@pytest.fixture
def client() -> RecordingClient:
    return RecordingClient(boto3.client("dynamodb"))


@pytest.fixture
def staff_post(request: pytest.FixtureRequest) -> Iterator[audit.AuditContext]:
    """A responder's POST /v1/incidents being served, as the API's staff gate opens it."""
    context = audit.AuditContext("POST", "/v1/incidents", f"req-{request.node.name}"[:120], "198.51.100.7")
    context.principal = audit.Principal("alice", "key_alice", "responder")
    context.expected_status = 201
    token = audit.CURRENT.set(context)
    yield context
    audit.CURRENT.reset(token)


def entries_of(client: RecordingClient, table: str, context: audit.AuditContext) -> list[dict[str, Any]]:
    """Every audit entry the table holds for this request."""
    found = client.client.query(TableName=table, KeyConditionExpression="pk = :pk",
                                FilterExpression="request_id = :r", ConsistentRead=True,
                                ExpressionAttributeValues={":pk": {"S": context.pk}, ":r": {"S": context.request_id}})
    return list(found["Items"])


def is_entry(op: dict[str, Any]) -> bool:
    return "Put" in op and op["Put"]["Item"]["pk"]["S"].startswith(audit.PK_PREFIX)


@pytest.mark.parametrize("width", [60, MAX_COMPONENTS_PER_REQUEST])
def test_a_backfill_spanning_several_writes_has_one_entry_in_its_first_transaction(
        table: str, client: RecordingClient, staff_post: audit.AuditContext, width: int) -> None:
    service = StatusService(IncidentStore(table, client))
    # GIVEN a backfill naming more components than its history fits in one transaction (2 + 2n writes)
    names = COMPONENTS[:width]
    incident, [update] = service.create_incident(IncidentCreate(
        name=f"Past outage of {width}", status="resolved", body="b", display_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
        components=dict.fromkeys(names, "major_outage")))
    # WHEN the API's gate settles the request with the answer the route gave
    http_errors.settle(service.store, staff_post, 201)
    # THEN the first transaction committed the incident and the request's entry together, within DynamoDB's limit
    first = client.transactions[0]
    assert len(first) <= TRANSACTION_LIMIT
    [entry] = [op["Put"]["Item"] for op in first if is_entry(op)]
    assert any(op.get("Put", {}).get("Item", {}).get("sk", {}).get("S") == "#HEAD" for op in first)
    assert (entry["actor"]["S"], entry["status"]["N"], entry["target_id"]["S"]) == ("alice", "201", incident.id)
    # AND no later write carries another: the table holds exactly one entry for the request
    assert not any(is_entry(op) for later in client.transactions[1:] for op in later)
    assert len(entries_of(client, table, staff_post)) == 1
    # AND every component's history has the backfill, the overflow written after the transaction too
    for name in names:
        changes = service.store.component_history(name, "2024-05-01")
        assert any(c.source == "backfill" and c.ref == update.id for c in changes), name


def test_a_live_update_changing_the_most_components_a_request_may_is_audited_in_its_transaction(
        table: str, client: RecordingClient, staff_post: audit.AuditContext) -> None:
    service = StatusService(IncidentStore(table, client))
    # GIVEN a live incident changing the most components a request may (head, update, 97 components)
    service.create_incident(IncidentCreate(
        name="Everything down", status="investigating", body="b",
        components=dict.fromkeys(COMPONENTS, "major_outage")))
    # THEN its first transaction is full with the entry in it: the change did not land without it
    assert len(client.transactions[0]) == TRANSACTION_LIMIT
    assert sum(is_entry(op) for op in client.transactions[0]) == 1
    # AND when the API's gate settles the request it writes no second one
    http_errors.settle(service.store, staff_post, 201)
    [entry] = entries_of(client, table, staff_post)
    assert (entry["status"]["N"], entry["method"]["S"]) == ("201", "POST")
