"""Lambda event filtering (FilterCriteria) for the local pollers.

The subset of the pattern language the template can use: nested objects,
lists of exact values, and `prefix`, `exists`, `anything-but`. A record is
kept when any filter matches; Lambda drops the others as processed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

_MISSING = object()


def parse(filters: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(f["Pattern"]) if isinstance(f.get("Pattern"), str) else dict(f["Pattern"])
                 for f in filters)


def keep(record: Mapping[str, Any], patterns: tuple[dict[str, Any], ...]) -> bool:
    return not patterns or any(_matches(record, pattern) for pattern in patterns)


def _matches(value: Any, pattern: Mapping[str, Any]) -> bool:
    for key, rule in pattern.items():
        field = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if not isinstance(field, Mapping) or not _matches(field, rule):
                return False
        elif not any(_matches_value(field, r) for r in rule):
            return False
    return True


def _matches_value(field: Any, rule: Any) -> bool:
    if not isinstance(rule, Mapping):
        return field is not _MISSING and field == rule
    if "prefix" in rule:
        return isinstance(field, str) and field.startswith(rule["prefix"])
    if "exists" in rule:
        return (field is not _MISSING) == bool(rule["exists"])
    if "anything-but" in rule:
        excluded = rule["anything-but"]
        excluded = excluded if isinstance(excluded, list) else [excluded]
        return field is not _MISSING and field not in excluded
    raise ValueError(f"filter rule not supported locally: {rule}")
