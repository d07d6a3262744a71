"""Timestamps as Statuspage writes them: UTC, millisecond precision, a Z suffix."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_ts(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def truncate_ms(value: datetime) -> datetime:
    """Drop sub-millisecond digits so a stored time round-trips through format_ts."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)
