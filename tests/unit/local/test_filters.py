"""The local stack applies the template's FilterCriteria as Lambda does."""

from __future__ import annotations

import pytest

from status_fanout_local import filters

TEMPLATE_PATTERN = [{"Pattern": '{"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "INC#"}, "COMP"]}}}}'}]


def record(pk: str) -> dict[str, object]:
    return {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": "x"}}}}


@pytest.mark.parametrize("pk,kept", [("INC#abc", True), ("COMP", True), ("COMPONENT", False),
                                      ("SUB#webhook#all#001", False), ("idempotency#app", False)])
def test_the_publisher_filter_keeps_incidents_and_components_only(pk: str, kept: bool) -> None:
    assert filters.keep(record(pk), filters.parse(TEMPLATE_PATTERN)) is kept


def test_no_filters_keeps_everything_and_exists_and_anything_but_work() -> None:
    assert filters.keep(record("anything"), ())
    patterns = filters.parse([{"Pattern": '{"eventName": [{"anything-but": "REMOVE"}], "dynamodb": '
                                          '{"NewImage": [{"exists": false}]}}'}])
    assert filters.keep(record("x"), patterns)
    assert not filters.keep({**record("x"), "eventName": "REMOVE"}, patterns)
