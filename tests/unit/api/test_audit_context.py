"""The audit entry's ride in the change's own transaction (status_fanout.audit
and Store.transact): once per request, only for authenticated staff writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from status_fanout import audit
from status_fanout.audit import AuditContext, Principal
from status_fanout.dynamo import TRANSACTION_LIMIT, Store

RESPONDER = Principal("alice", "key_0123456789abcdef", "responder")


class RecordingClient:
    def __init__(self) -> None:
        self.transactions: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.transactions.append(TransactItems)
        return {}


def head_put(incident_id: str) -> dict[str, Any]:
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": f"INC#{incident_id}"}, "sk": {"S": "#HEAD"},
                                               "id": {"S": incident_id}}}}


@pytest.fixture
def request_context() -> Iterator[AuditContext]:
    context = AuditContext("POST", "/v1/incidents", "req-7", "203.0.113.9")
    context.principal = RESPONDER
    context.expected_status = 201
    token = audit.CURRENT.set(context)
    yield context
    audit.CURRENT.reset(token)


def entries(transaction: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [op["Put"]["Item"] for op in transaction if op["Put"]["Item"].get("type") == {"S": "audit"}]


def test_the_first_transaction_of_a_staff_write_carries_its_entry_and_no_other_does(
    request_context: AuditContext,
) -> None:
    client = RecordingClient()
    store = Store("t", client=client)
    # WHEN the request's change commits, then a second transaction of the same request
    store.transact([head_put("inc1")])
    store.transact([head_put("inc2")])
    # THEN the first carried the entry, naming what it created; the second did not
    first, second = client.transactions
    [entry] = entries(first)
    assert entry["target_id"] == {"S": "inc1"} and entry["status"] == {"N": "201"}
    assert entry["actor"] == {"S": "alice"} and entry["request_id"] == {"S": "req-7"}
    assert int(entry["expires_at"]["N"]) > 0
    assert entries(second) == []
    # AND the gate knows not to write it again
    assert request_context.written_status == 201 and audit.pending_entry() is None


def test_a_full_transaction_is_left_as_it_is_and_the_gate_writes_the_entry(request_context: AuditContext) -> None:
    client = RecordingClient()
    store = Store("t", client=client)
    store.transact([head_put(f"i{n}") for n in range(TRANSACTION_LIMIT)])
    assert len(client.transactions[0]) == TRANSACTION_LIMIT and entries(client.transactions[0]) == []
    assert request_context.written_status is None  # still pending: the gate writes it after the answer


def test_reads_refusals_and_work_outside_a_request_carry_no_entry() -> None:
    client = RecordingClient()
    store = Store("t", client=client)
    read = AuditContext("GET", "/v1/incidents", "r", None)
    read.principal = RESPONDER
    refused = AuditContext("POST", "/v1/incidents", "r", None)  # no principal: a 401
    for context in (None, read, refused):
        token = audit.CURRENT.set(context)
        try:
            store.transact([head_put("x")])
        finally:
            audit.CURRENT.reset(token)
    assert all(entries(t) == [] for t in client.transactions)


def test_an_entry_keeps_no_more_than_its_field_limit_of_what_a_caller_sends() -> None:
    context = AuditContext("POST", "/v1/" + "x" * 10_000, "r" * 10_000, "1" * 10_000)
    item = context.item(401)
    assert all(len(v.get("S", "")) <= 2 * audit.MAX_FIELD + 40 for v in item.values())
