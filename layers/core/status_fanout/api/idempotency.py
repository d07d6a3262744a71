"""`Idempotency-Key` on POSTs, with Powertools Idempotency on the one table.

A repeat of (token, method, path, key) inside 24 h returns the first response
and runs nothing; the same key with a different body is refused. Imported
lazily: requests without the header never pay for it at cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from status_fanout.errors import ConflictError, InvalidFieldError
from status_fanout.settings import get_settings

TTL_SECONDS = 24 * 3600

_persistence = DynamoDBPersistenceLayer(
    table_name=get_settings().table_name,
    key_attr="pk",
    sort_key_attr="sk",
    expiry_attr="expires_at",
)
_config = IdempotencyConfig(
    event_key_jmespath="[scope, key]",
    payload_validation_jmespath="body",
    expires_after_seconds=TTL_SECONDS,
    raise_on_no_idempotency_key=True,
)


def register_context(context: LambdaContext) -> None:
    _config.register_lambda_context(context)


@idempotent_function(data_keyword_argument="request", config=_config, persistence_store=_persistence)
def _run_once(*, request: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return run()


def run_once(scope: str, key: str, body: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `run` once per (scope, key); its result must be JSON-serialisable."""
    try:
        parsed_body: Any = json.loads(body or "null")
    except ValueError:
        parsed_body = body
    try:
        return _run_once(request={"scope": scope, "key": key, "body": parsed_body}, run=run)
    except IdempotencyValidationError as exc:
        raise InvalidFieldError("Idempotency-Key", "already used with a different request body") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise ConflictError("a request with this Idempotency-Key is still running; retry shortly",
                            [{"field": "Idempotency-Key"}]) from exc
