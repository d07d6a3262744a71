"""Reading import files and writing export cells (status_fanout.email.subscriber_io):
the parts with no table behind them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from status_fanout.email.subscriber_io import Report, escape_formula, read_csv, read_json, unescape_formula
from status_fanout.errors import InvalidFieldError, MalformedRequestError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KNOWN = {"api", "web"}


def test_line_numbers_are_the_file_s_own_even_past_a_quoted_line_break() -> None:
    # GIVEN a file whose second row spans two lines inside quotes, and a blank line
    text = 'email,components\na@example.com,api\n"b@example.com","api;\nweb"\n\nnope,\nc@example.com,web\n'
    report = Report()
    # WHEN it is read
    rows = read_csv(text, KNOWN, NOW, report)
    # THEN each row keeps the line it starts on, as an editor numbers them
    assert [(r.line, r.email, r.components) for r in rows] == [
        (2, "a@example.com", ["api"]), (3, "b@example.com", ["api", "web"]), (7, "c@example.com", ["web"])]
    assert report.rejected == [{"line": 6, "field": "email", "message": report.rejected[0]["message"]}]


def test_a_header_is_required_and_checked() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        read_csv("mail,components\nx@example.com,\n", KNOWN, NOW, Report())
    assert caught.value.field == "header"
    with pytest.raises(MalformedRequestError):
        read_csv('email\n"x@example.com\n', KNOWN, NOW, Report())


def test_json_rows_are_checked_one_by_one() -> None:
    report = Report()
    rows, consent = read_json('{"consent": "confirmed_elsewhere", "subscribers": [{"email": "a@example.com", '
                              '"state": "confirmed"}, {"email": 3}, "x", {"email": "b@example.com", "colour": 1}, '
                              '{"email": "c@example.com", "components": ["zzz"]}]}', KNOWN, NOW, report)
    assert consent == "confirmed_elsewhere"
    assert [(r.line, r.state) for r in rows] == [(1, "confirmed")]
    assert [(r["line"], r["field"]) for r in report.rejected] == [(2, "email"), (3, "row"), (4, "colour"),
                                                                  (5, "components")]


def test_a_bare_json_list_is_read_as_the_object_s_list_and_anything_else_named() -> None:
    # GIVEN the same rows as a bare list and inside the object an export writes
    rows = '[{"email": "a@example.com"}, {"email": "nobody"}, {"email": "b@example.com", "components": ["api"]}]'
    bare, wrapped = Report(), Report()
    listed, consent = read_json(rows, KNOWN, NOW, bare)
    # THEN both read alike, bad rows by their position, and a bare list carries no consent
    assert consent is None
    assert [r.email for r in listed] == [r.email for r in read_json('{"subscribers": ' + rows + "}", KNOWN, NOW,
                                                                    wrapped)[0]]
    assert bare.rejected == wrapped.rejected and [r["line"] for r in bare.rejected] == [2]
    # AND a body that is neither is a 422 naming subscribers
    for body in ('"a@example.com"', '{"rows": []}', "3"):
        with pytest.raises(InvalidFieldError) as raised:
            read_json(body, KNOWN, NOW, Report())
        assert raised.value.field == "subscribers"


@pytest.mark.parametrize("cell", ["=1+2@example.com", "+x@example.com", "-x@example.com", "@SUM(A1)", "\tx", "\rx"])
def test_a_formula_cell_is_escaped_and_reads_back_as_itself(cell: str) -> None:
    assert escape_formula(cell) == f"'{cell}"
    assert unescape_formula(escape_formula(cell)) == cell


def test_a_plain_cell_is_left_alone() -> None:
    assert escape_formula("reader@example.com") == "reader@example.com"
    assert unescape_formula("'quoted@example.com") == "'quoted@example.com"
