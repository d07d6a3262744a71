"""Domain errors. The data layer raises these instead of SDK errors; the API
maps each to one HTTP status and the error shape of docs/contract.md §5.5."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFoundError(DomainError):
    status = 404
    code = "not_found"


class ConflictError(DomainError):
    status = 409
    code = "conflict"


class InvalidFieldError(DomainError):
    """A well-formed request whose field breaks a rule (422, naming the field)."""

    status = 422
    code = "invalid_field"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", [{"field": field, "message": message}])
        self.field = field


class StoreUnavailableError(DomainError):
    """DynamoDB throttled or failed; the caller may retry."""

    status = 503
    code = "unavailable"


class MalformedRequestError(DomainError):
    status = 400
    code = "malformed_request"


class InvalidRequestError(DomainError):
    """Fields that failed validation; details name each one."""

    status = 422
    code = "invalid_field"


class PayloadTooLargeError(DomainError):
    status = 413
    code = "payload_too_large"


class TooManyRequestsError(DomainError):
    """A rate limit was reached; `retry_after` seconds until it resets (429 + Retry-After)."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
