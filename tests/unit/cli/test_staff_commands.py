"""The staff CLI's commands for the routes built on other branches (keys, audit,
templates, subscribers), against a real HTTP server answering their shapes;
and what every command shares: errors, retries that never post twice, paging,
output that cannot be turned against the reader's terminal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.unit.cli.conftest import FakeApi, Ran, Seen

Run = Callable[..., Ran]
INCIDENT = {"id": "abc123def456", "name": "SMTP delays", "status": "investigating", "impact": "major",
            "shortlink": "http://status.example/incidents/abc123def456", "incident_updates": [], "components": []}


def test_keys_create_shows_the_key_once_and_posts_with_an_idempotency_key(fake_api: FakeApi, run: Run) -> None:
    # GIVEN the keys route answering as docs/contract.md §12 says
    created = {"key_id": "k_1", "name": "alice", "role": "responder", "created_at": "2026-01-02T03:04:05.000Z",
               "key": "sfk_s3cret"}
    fake_api.on("POST", "/v1/keys", (201, created, {}))
    # WHEN staff create a key
    result = run("keys", "create", "alice", "--role", "responder")
    # THEN the name and role were sent, with a fresh Idempotency-Key, and the key is shown
    assert result.exit_code == 0, result.stderr
    [post] = fake_api.seen
    assert post.json == {"name": "alice", "role": "responder"}
    assert post.headers["idempotency-key"].startswith("cli-")
    assert "sfk_s3cret" in result.stdout and "shown only now" in result.stdout
    # AND two runs never share a key (each is its own request)
    run("keys", "create", "bob", "--role", "viewer")
    assert fake_api.seen[1].headers["idempotency-key"] != post.headers["idempotency-key"]


def test_keys_create_json_prints_the_apis_bytes(fake_api: FakeApi, run: Run) -> None:
    raw = b'{"key_id": "k_1", "name": "ci", "role": "viewer", "created_at": "x", "key": "sfk_abc"}'
    fake_api.on("POST", "/v1/keys", (201, raw, {}))
    result = run("keys", "create", "ci", "--role", "viewer", "--json", "--idempotency-key", "mine-1")
    assert result.stdout == raw.decode() + "\n"
    assert fake_api.seen[0].headers["idempotency-key"] == "mine-1"


def test_keys_create_refuses_an_unknown_role_before_sending(fake_api: FakeApi, run: Run) -> None:
    result = run("keys", "create", "alice", "--role", "root")
    assert result.exit_code == 2
    assert fake_api.seen == []


def test_keys_list_and_revoke(fake_api: FakeApi, run: Run) -> None:
    keys = [{"key_id": "k_1", "name": "alice", "role": "admin", "created_at": "2026-01-02T03:04:05.000Z",
             "last_used_at": None}]
    fake_api.on("GET", "/v1/keys", (200, {"keys": keys}, {}))
    fake_api.on("DELETE", "/v1/keys/k_1", (204, None, {}))
    listed = run("keys", "list")
    assert listed.exit_code == 0 and "alice" in listed.stdout and "never" in listed.stdout
    # the keys route takes no page size: none is sent
    assert "limit" not in fake_api.seen[0].query
    revoked = run("keys", "revoke", "k_1")
    assert revoked.exit_code == 0 and "revoked k_1" in revoked.stdout
    assert fake_api.seen[-1].method == "DELETE"


def test_an_id_stays_one_path_segment(fake_api: FakeApi, run: Run) -> None:
    # WHEN an id tries to climb to another route
    run("keys", "revoke", "../incidents?x=1")
    # THEN it reaches the keys route, escaped
    assert fake_api.seen[0].path == "/v1/keys/..%2Fincidents%3Fx%3D1"


def test_audit_pages_through_every_entry(fake_api: FakeApi, run: Run) -> None:
    # GIVEN an audit log of two pages
    pages: dict[str | None, Any] = {
        None: {"entries": [{"at": "2026-01-02T03:04:05.000Z", "actor": "alice", "role": "admin", "method": "POST",
                            "path": "/v1/keys", "target_id": "k_2", "status": 201, "request_id": "r-1",
                            "source_ip": "198.51.100.7"}], "next_cursor": "page2"},
        "page2": {"entries": [{"at": "2026-01-01T00:00:00.000Z", "actor": "bootstrap", "role": "admin",
                               "method": "DELETE", "path": "/v1/keys/k_9", "status": 403, "request_id": "r-0",
                               "source_ip": "203.0.113.9"}], "next_cursor": None},
    }

    def audit(seen: Seen) -> Any:
        cursor = seen.query["cursor"][0] if "cursor" in seen.query else None
        return 200, pages[cursor], {}

    fake_api.on("GET", "/v1/audit", audit)
    # WHEN staff read it all, filtered by actor and the last day
    result = run("audit", "--all", "--actor", "alice", "--since", "-24h", "--json")
    # THEN both pages come back as one answer of the API's shape
    assert result.exit_code == 0, result.stderr
    merged = json.loads(result.stdout)
    assert [e["request_id"] for e in merged["entries"]] == ["r-1", "r-0"]
    assert merged["next_cursor"] is None
    # AND each request carried the filters, the second the first's cursor
    first, second = fake_api.seen
    assert first.query["actor"] == ["alice"] and first.query["since"][0].endswith("Z")
    assert second.query["cursor"] == ["page2"] and second.query["actor"] == ["alice"]
    # AND people get a table
    human = run("audit", "--all")
    assert "198.51.100.7" in human.stdout and "bootstrap" in human.stdout


def test_a_limit_stops_paging_and_offers_the_cursor(fake_api: FakeApi, run: Run) -> None:
    fake_api.on("GET", "/v1/audit", (200, {"entries": [{"actor": "a"}], "next_cursor": "more"}, {}))
    result = run("audit", "--limit", "1")
    assert len(fake_api.seen) == 1 and fake_api.seen[0].query["limit"] == ["1"]
    assert "--cursor more" in result.stderr


def test_template_use_opens_an_incident_from_the_template(fake_api: FakeApi, run: Run) -> None:
    fake_api.on("GET", "/v1/templates", (200, {"templates": [
        {"template_id": "smtp-down", "name": "SMTP down", "title": "Email delays", "status": "investigating"}]}, {}))
    fake_api.on("POST", "/v1/incidents", (201, INCIDENT, {}))
    assert "Email delays" in run("template", "list").stdout
    # WHEN a template is used with only a new body
    result = run("template", "use", "smtp-down", "--body", "Delays on outbound mail.")
    # THEN the template and the override are all that is sent: its fields fill the rest
    assert result.exit_code == 0, result.stderr
    assert fake_api.seen[-1].json == {"template": "smtp-down", "body": "Delays on outbound mail."}
    assert "opened  abc123def456" in result.stdout


def test_template_save_and_delete(fake_api: FakeApi, run: Run) -> None:
    fake_api.on("PUT", "/v1/templates/smtp-down", (201, {"template_id": "smtp-down"}, {}))
    fake_api.on("DELETE", "/v1/templates/smtp-down", (204, None, {}))
    saved = run("template", "save", "smtp-down", "--name", "SMTP down", "--title", "Email delays",
                "-c", "smtp-email=down", "--body", "We are looking into delays.")
    assert saved.exit_code == 0, saved.stderr
    assert fake_api.seen[0].json == {"name": "SMTP down", "title": "Email delays",
                                     "body": "We are looking into delays.",
                                     "components": {"smtp-email": "major_outage"}}
    assert run("template", "delete", "smtp-down").exit_code == 0


def test_subscribers_export_writes_the_csv_as_served(fake_api: FakeApi, run: Run, tmp_path: Path) -> None:
    # GIVEN an export of two pages (X-Next-Cursor), a cell starting like a formula (the API neutralises it)
    header = b"email,components,state,created\r\n"
    first = header + b"'=a@example.com,,confirmed,2026-01-01T00:00:00.000Z\r\n"
    second = header + b"b@example.com,smtp-email,pending,2026-01-02T00:00:00.000Z\r\n"

    def export(seen: Seen) -> Any:
        if seen.query.get("format") == ["json"]:
            page = {"subscribers": [{"email": "a@example.com"}], "next_cursor": None}
            return 200, page, {}
        if seen.query.get("cursor") == ["page2"]:
            return 200, second, {"Content-Type": "text/csv"}
        return 200, first, {"Content-Type": "text/csv", "X-Next-Cursor": "page2"}

    fake_api.on("GET", "/v1/subscribers/export", export)
    # WHEN exported to stdout and to a file
    out = run("subscribers", "export")
    target = tmp_path / "subscribers.csv"
    to_file = run("subscribers", "export", "-o", str(target))
    # THEN the bytes are the API's pages, one header, the cursor followed; the file count is on stderr
    assert out.stdout_bytes == first + second.removeprefix(header)
    assert target.read_bytes() == out.stdout_bytes
    assert "wrote 2 subscribers" in to_file.stderr
    assert fake_api.seen[0].headers["accept"] == "text/csv"
    assert fake_api.seen[1].query == {"format": ["csv"], "cursor": ["page2"]}
    # AND --json asks the API for its JSON and prints it as it came
    json_out = run("subscribers", "export", "--json")
    assert fake_api.seen[-1].query == {"format": ["json"]}
    assert json.loads(json_out.stdout) == {"subscribers": [{"email": "a@example.com"}], "next_cursor": None}


def test_subscribers_import_in_chunks_reports_lines_of_the_file(fake_api: FakeApi, run: Run, tmp_path: Path) -> None:
    # GIVEN a CSV of more rows than the CLI sends a request (2,500), one bad row near the end
    rows = [f"user{n}@example.com,smtp-email," for n in range(2_600)]
    rows[2_550] = "not-an-email,smtp-email,"
    source = tmp_path / "subscribers.csv"
    source.write_text("email,components,state\n" + "\n".join(rows) + "\n")

    def importer(seen: Seen) -> Any:
        lines = seen.body.decode().splitlines()
        bad = [n for n, line in enumerate(lines, start=1) if line.startswith("not-an-email")]
        return 200, {"imported": len(lines) - 1 - len(bad), "merged": 0,
                     "rejected": [{"line": n, "field": "email", "message": "not an email address"} for n in bad]}, {}

    fake_api.on("POST", "/v1/subscribers/import", importer)
    # WHEN imported, the consent given
    result = run("subscribers", "import", str(source), "--idempotency-key", "batch-7", "--consent",
                 "confirmed_elsewhere", "--json")
    # THEN it went in chunks under the limits, each with the header, each with its own derived key
    assert len(fake_api.seen) == 2
    assert all(s.body.startswith(b"email,components,state\n") for s in fake_api.seen)
    assert all(len(s.body) < 2 * 1024 * 1024 and s.headers["content-type"].startswith("text/csv")
               for s in fake_api.seen)
    assert [s.headers["idempotency-key"] for s in fake_api.seen] == ["batch-7.1", "batch-7.2"]
    assert all(s.query == {"consent": ["confirmed_elsewhere"]} for s in fake_api.seen)
    # AND the one report counts every row and names the bad one by its line in the file
    report = json.loads(result.stdout)
    assert report["imported"] == 2_599
    assert report["rejected"] == [{"line": 2_552, "field": "email", "message": "not an email address"}]
    # AND a rejected row makes the exit status non-zero
    assert result.exit_code == 1


def test_subscribers_import_from_stdin_one_request(fake_api: FakeApi, run: Run) -> None:
    fake_api.on("POST", "/v1/subscribers/import", (200, {"imported": 1, "merged": 1, "rejected": []}, {}))
    result = run("subscribers", "import", "-", stdin="email\na@example.com\nb@example.com\n")
    assert result.exit_code == 0, result.stderr
    assert "imported 1, merged 1, rejected 0" in result.stdout
    assert fake_api.seen[0].body == b"email\na@example.com\nb@example.com\n"


def test_a_dropped_connection_is_retried_with_the_same_idempotency_key(fake_api: FakeApi, run: Run) -> None:
    # GIVEN an API whose first answer is lost (the connection drops after the request)
    answers: list[Any] = [None, (201, INCIDENT, {})]
    fake_api.on("POST", "/v1/incidents", lambda _seen: answers.pop(0))
    # WHEN an incident is opened
    result = run("incident", "open", "SMTP delays", "--body", "Looking into it.")
    # THEN the CLI sent it again with the same key, so the API runs it once, and succeeded
    assert result.exit_code == 0, result.stderr
    first, second = fake_api.seen
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body == second.body


def test_a_503_is_retried_and_a_422_is_not(fake_api: FakeApi, run: Run) -> None:
    answers: list[Any] = [(503, {"error": {"code": "unavailable", "message": "retry", "details": []}}, {}),
                          (201, INCIDENT, {})]
    fake_api.on("POST", "/v1/incidents", lambda _seen: answers.pop(0))
    assert run("incident", "open", "SMTP delays", "--body", "x").exit_code == 0
    assert len(fake_api.seen) == 2
    invalid = {"error": {"code": "invalid_field", "message": "invalid name", "details": [
        {"field": "name", "message": "String should have at most 255 characters", "type": "string_too_long"}]}}
    fake_api.on("POST", "/v1/incidents", (422, invalid, {}))
    refused = run("incident", "open", "x" * 300, "--body", "x")
    assert len(fake_api.seen) == 3
    assert refused.exit_code == 1
    assert "error: invalid name (HTTP 422 invalid_field)" in refused.stderr
    assert "name: String should have at most 255 characters" in refused.stderr


def test_a_delete_whose_answer_is_lost_is_not_sent_again(fake_api: FakeApi, run: Run) -> None:
    fake_api.on("DELETE", "/v1/keys/k_1", None)
    result = run("keys", "revoke", "k_1")
    assert result.exit_code == 3
    assert len(fake_api.seen) == 1
    assert "cannot reach the API" in result.stderr


def test_an_error_page_that_is_not_json_is_shown_plainly(fake_api: FakeApi, run: Run) -> None:
    fake_api.on("GET", "/v1/keys", (502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}))
    result = run("keys", "list")
    assert result.exit_code == 1
    assert "<html>Bad Gateway</html> (HTTP 502)" in result.stderr


def test_text_from_the_api_cannot_drive_the_terminal(fake_api: FakeApi, run: Run) -> None:
    # GIVEN an incident named with Rich markup and a terminal escape (retitle the window, clear the screen)
    hostile = {**INCIDENT, "name": "[link=http://evil]click[/link] \x1b]0;pwned\x07\x1b[2J"}
    fake_api.on("GET", "/v1/incidents", (200, {"incidents": [hostile], "next_cursor": None}, {}))
    # WHEN listed for people
    result = run("incident", "list")
    # THEN the text is shown as typed, the escapes made visible and inert
    assert "[link=http://evil]click[/link]" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b]0;pwned\\x07" in result.stdout


def test_incident_update_without_status_keeps_the_current_one(fake_api: FakeApi, run: Run) -> None:
    fake_api.on("GET", "/v1/incidents/abc123def456", (200, {**INCIDENT, "status": "identified"}, {}))
    fake_api.on("POST", "/v1/incidents/abc123def456/updates", (201, INCIDENT, {}))
    result = run("incident", "update", "abc123def456", stdin="We are continuing to work on a fix.\n")
    assert result.exit_code == 0, result.stderr
    assert fake_api.seen[-1].json == {"status": "identified", "body": "We are continuing to work on a fix."}


def test_a_wrong_token_is_the_apis_message(fake_api: FakeApi, run: Run) -> None:
    result = run("keys", "list", token="sfk_wrong")
    assert result.exit_code == 1
    assert "the staff token is not valid (HTTP 401 unauthorized)" in result.stderr


def test_a_token_or_key_that_would_break_a_header_is_refused_before_sending(fake_api: FakeApi, run: Run) -> None:
    # GIVEN a token with a pasted line break and a header after it
    injected = run("keys", "list", token="sfk_unit-test-key\r\nX-Admin: yes")
    # THEN nothing is sent and it says why
    assert injected.exit_code == 2 and "control characters" in injected.stderr
    spaced = run("incident", "open", "x", "--body", "y", "--idempotency-key", "two words")
    assert spaced.exit_code == 2 and "--idempotency-key" in spaced.stderr
    assert fake_api.seen == []
    # AND a token copied with its trailing newline still works
    fake_api.on("GET", "/v1/keys", (200, {"keys": []}, {}))
    assert run("keys", "list", token="sfk_unit-test-key\n").exit_code == 0
