"""What staff type, turned into request fields, and a subscriber file cut into
requests the API takes: pure functions, no server."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from status_fanout_cli import imports, inputs

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_body_from_flag_file_or_stdin(tmp_path: Path) -> None:
    text = tmp_path / "update.txt"
    text.write_text("From the file.\n")
    assert inputs.read_body("Typed.", None, io.StringIO("ignored")) == "Typed."
    assert inputs.read_body(None, text, io.StringIO("ignored")) == "From the file."
    assert inputs.read_body(None, Path("-"), io.StringIO("Piped.\n\n")) == "Piped."
    assert inputs.read_body("-", None, io.StringIO("Dash.")) == "Dash."
    # a pipe with no flag is read; a terminal is not waited on
    assert inputs.read_body(None, None, io.StringIO("Heredoc.\n")) == "Heredoc."
    assert inputs.read_body(None, None, Terminal(), required=False) is None


def test_body_faults_name_the_flag(tmp_path: Path) -> None:
    with pytest.raises(inputs.UsageError, match="--body or --body-file, not both"):
        inputs.read_body("x", tmp_path / "f", io.StringIO())
    with pytest.raises(inputs.UsageError, match="--body-file: cannot read"):
        inputs.read_body(None, tmp_path / "missing.txt", io.StringIO())
    with pytest.raises(inputs.UsageError, match="give the text"):
        inputs.read_body(None, None, io.StringIO("\n"))


def test_component_changes_take_short_forms_and_refuse_others() -> None:
    assert inputs.component_changes(["smtp-email=down", "pop3-imap-email=degraded"]) == {
        "smtp-email": "major_outage", "pop3-imap-email": "degraded_performance"}
    assert inputs.component_changes(None) is None
    with pytest.raises(inputs.UsageError, match="ID=STATUS"):
        inputs.component_changes(["smtp-email"])
    with pytest.raises(inputs.UsageError, match="not a component status"):
        inputs.component_changes(["smtp-email=broken"])


def test_times_are_utc_with_their_zone_or_relative() -> None:
    assert inputs.timestamp("2018-08-30T18:18:00-04:00", "--display-at") == "2018-08-30T22:18:00Z"
    assert inputs.timestamp("2018-08-30T22:18:00.000Z", "--display-at") == "2018-08-30T22:18:00Z"
    assert inputs.timestamp("+2h", "--start", NOW) == "2026-03-01T14:00:00Z"
    assert inputs.timestamp("-30m", "--since", NOW) == "2026-03-01T11:30:00Z"
    assert inputs.timestamp("now", "--since", NOW) == "2026-03-01T12:00:00Z"
    assert inputs.timestamp(None, "--since") is None
    # a time without a zone would be guessed in someone's zone: refused
    with pytest.raises(inputs.UsageError, match="no time zone"):
        inputs.timestamp("2026-03-01T02:00:00", "--start")
    with pytest.raises(inputs.UsageError, match="--start: 'tomorrow' is not a time"):
        inputs.timestamp("tomorrow", "--start")


def test_a_quoted_line_break_stays_in_its_row_and_lines_map_back() -> None:
    # GIVEN a CSV with a byte-order mark, a blank line and a field holding a line break
    text = '\ufeffemail,note\r\na@example.com,"two\r\nlines"\r\n\r\nb@example.com,x\r\n'
    [chunk] = imports.chunks(text)
    # THEN the chunk keeps the rows whole and the blank line out
    assert chunk.body.decode() == 'email,note\r\na@example.com,"two\r\nlines"\r\nb@example.com,x\r\n'
    assert chunk.rows == 2
    # AND the API's line 4 (b@) is line 5 of the file, past the blank line
    assert chunk.original_line(4) == 5
    assert chunk.original_line(2) == 2
    assert chunk.original_line(99) == 99 and chunk.original_line(None) is None


def test_chunks_repeat_the_header_and_respect_the_size() -> None:
    rows = "".join(f"user{n}@example.com\n" for n in range(10))
    parts = imports.chunks("email\n" + rows, max_bytes=60, max_rows=100)
    assert all(p.body.startswith(b"email\n") and len(p.body) <= 60 for p in parts)
    assert sum(p.rows for p in parts) == 10
    assert parts[1].original_line(2) == parts[0].rows + 2


def test_a_json_list_is_cut_by_items() -> None:
    items = [{"email": f"u{n}@example.com"} for n in range(5)]
    parts = imports.chunks(json.dumps(items), max_rows=2)
    assert [json.loads(p.body) for p in parts] == [{"subscribers": items[:2]}, {"subscribers": items[2:4]},
                                                   {"subscribers": items[4:]}]
    assert parts[1].original_line(1) == 3 and parts[1].content_type == "application/json"
    # AND an export's document is read as its list, its consent kept
    [exported] = imports.chunks(json.dumps({"consent": "confirmed_elsewhere", "subscribers": items,
                                            "next_cursor": None}))
    assert json.loads(exported.body) == {"consent": "confirmed_elsewhere", "subscribers": items}
    with pytest.raises(ValueError, match="not JSON"):
        imports.chunks("[1")


def test_reports_add_up() -> None:
    first, second = imports.chunks("email\na@x.io\nb@x.io\nc@x.io\n", max_rows=2)
    merged = imports.merge_reports([
        (first, {"imported": 1, "merged": 1, "rejected": []}),
        (second, {"imported": 0, "merged": 0, "rejected": [{"line": 2, "field": "email", "message": "bad"}]}),
    ])
    assert merged == {"imported": 1, "merged": 1, "rejected": [{"line": 4, "field": "email", "message": "bad"}]}
