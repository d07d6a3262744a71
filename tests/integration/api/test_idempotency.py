"""Idempotency-Key: a repeat returns the first answer and runs nothing, on a real
(emulated) DynamoDB table through Powertools Idempotency."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import status_fanout.api
from status_fanout.errors import InvalidFieldError
from status_fanout.settings import get_settings
from status_fanout_local.emulator import Emulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def idempotency() -> Iterator[ModuleType]:
    emulator = Emulator()
    emulator.start()
    emulator.client("dynamodb").create_table(
        TableName="idempotency-test", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TABLE_NAME", "idempotency-test")
        env.setenv("AWS_ENDPOINT_URL", emulator.url)
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            env.setenv(name, value)
        get_settings.cache_clear()
        from status_fanout.api import idempotency as module
        yield importlib.reload(module)  # its persistence layer reads the table name at import
        get_settings.cache_clear()
    # Forget this table: the next import (a local stack's api handler) reads its own.
    sys.modules.pop(module.__name__, None)
    delattr(status_fanout.api, "idempotency")
    emulator.stop()


def test_a_repeat_returns_the_first_answer_and_runs_nothing(idempotency: ModuleType) -> None:
    runs: list[int] = []

    def create() -> dict[str, Any]:
        runs.append(1)
        return {"status": 201, "id": f"inc{len(runs)}"}

    # GIVEN a request that ran once under a key
    first = idempotency.run_once("token:POST /v1/incidents", "key-1", '{"name": "a"}', create)
    # WHEN the same request comes again with the same key
    again = idempotency.run_once("token:POST /v1/incidents", "key-1", '{"name": "a"}', create)
    # THEN the first answer comes back and nothing ran twice
    assert again == first == {"status": 201, "id": "inc1"} and len(runs) == 1
    # AND the same key in another scope (another token or route) is another request
    other = idempotency.run_once("other-token:POST /v1/incidents", "key-1", '{"name": "a"}', create)
    assert other == {"status": 201, "id": "inc2"}


def test_the_same_key_with_another_body_is_refused_naming_the_header(idempotency: ModuleType) -> None:
    idempotency.run_once("token:POST /v1/incidents", "key-2", '{"name": "a"}', lambda: {"status": 201})
    with pytest.raises(InvalidFieldError) as refused:
        idempotency.run_once("token:POST /v1/incidents", "key-2", '{"name": "b"}', lambda: {"status": 201})
    assert refused.value.details[0]["field"] == "Idempotency-Key"
