"""The staff CLI as staff run it: the installed `status-fanout` command, in its
own process, against the local stack's staff API (docs/cli.md).

The main scenario is the seed incident (docs/contract.md §2) told through the
CLI: its components set up, the incident opened and each update posted with
its text on stdin, at the seed's times (a backfill), then resolved and shown.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEED, STAFF_TOKEN, Api

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).parent / "status-fanout")


def cli(stack: Any, *args: str, stdin: str | None = None, token: str = STAFF_TOKEN,
        api: str | None = None) -> subprocess.CompletedProcess[str]:
    """`status-fanout ARGS` with the API and token in the environment, as docs/cli.md sets them up."""
    env = {**os.environ, "STATUS_FANOUT_API": api or stack.api_url, "STATUS_FANOUT_TOKEN": token,
           "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([CLI, *args], input=stdin if stdin is not None else "", capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result


def test_the_seed_incident_told_through_the_cli(stack: Any, api: Api) -> None:
    seed = json.loads(SEED.read_text())
    first, *middle, last = seed["incident"]["updates"]
    # GIVEN the seed's four components, set up with the CLI
    for component in seed["components"]:
        ok(cli(stack, "component", "set", component["id"], "operational", "--name", component["name"],
               "--group", component["group"], "--position", str(component["position"])))
    listed = ok(cli(stack, "component", "list")).stdout
    assert "POP3/IMAP Email" in listed and "smtp-email" in listed
    # WHEN the incident is opened with its first update's text on stdin, at its time
    changes = [arg for cid, status in first["components"].items() for arg in ("-c", f"{cid}={status}")]
    opened = ok(cli(stack, "incident", "open", seed["incident"]["name"], "--impact", "critical", *changes,
                    "--display-at", first["display_at"], "--body-file", "-", "--json", stdin=first["body"] + "\n"))
    incident_id = json.loads(opened.stdout)["id"]
    # AND each later update is posted from stdin; one that keeps the status gives no --status
    previous = first["status"]
    for update in middle:
        status = [] if update["status"] == previous else ["--status", update["status"]]
        ok(cli(stack, "incident", "update", incident_id, *status, "--display-at", update["display_at"],
               stdin=update["body"]))
        previous = update["status"]
    # AND it is resolved, its components back to operational
    resolved = ok(cli(stack, "incident", "resolve", incident_id, "--operational", "--display-at", last["display_at"]))
    assert f"resolved  {incident_id}  resolved" in resolved.stdout
    # THEN `incident show --json` prints exactly what the API answers for the incident
    shown = ok(cli(stack, "incident", "show", incident_id, "--json")).stdout
    answer = api("GET", f"/v1/incidents/{incident_id}")
    assert shown.rstrip("\n") == answer.raw.decode()
    incident = json.loads(shown)
    # AND it holds the seed's six updates, verbatim, newest first, at the seed's times
    updates = list(reversed(incident["incident_updates"]))
    expected = seed["incident"]["updates"]
    assert [(u["status"], u["body"]) for u in updates] == [(u["status"], u["body"]) for u in expected]
    assert incident["started_at"] == "2018-08-30T22:18:00.000Z"
    assert incident["resolved_at"] == "2018-08-31T02:29:00.000Z"
    assert incident["status"] == "resolved" and incident["impact"] == "critical"
    assert {a["code"]: a["new_status"] for a in incident["incident_updates"][0]["affected_components"]} == {
        cid: "operational" for cid in first["components"]}
    # AND people read it as a table, and find it in the list
    human = ok(cli(stack, "incident", "show", incident_id)).stdout
    assert "Mail platform outage" in human and "This incident has been resolved." in human
    assert "We are continuing to work on a fix for this issue." in human
    listing = ok(cli(stack, "incident", "list")).stdout
    assert incident_id in listing and "Mail platform outage" in listing


def test_a_wrong_token_exits_non_zero_with_the_apis_message(stack: Any, api: Api) -> None:
    # GIVEN a token the API does not know
    expected = api("GET", "/v1/incidents", headers={"Authorization": "Bearer sf_wrong"}, auth=False).json
    # WHEN any command runs with it
    result = cli(stack, "incident", "list", token="sf_wrong")
    # THEN it exits 1 with the API's message on stderr, and prints nothing on stdout
    assert result.returncode == 1
    assert expected["error"]["message"] in result.stderr
    assert "HTTP 401 unauthorized" in result.stderr
    assert result.stdout == ""
    # AND with --json the API's error body is on stdout for scripts
    scripted = cli(stack, "incident", "list", "--json", token="sf_wrong")
    assert scripted.returncode == 1 and json.loads(scripted.stdout) == expected


def test_the_apis_field_errors_are_shown_by_field(stack: Any) -> None:
    # GIVEN an open incident
    opened = ok(cli(stack, "incident", "open", "SMTP delays", "--body", "Looking into it.", "--json"))
    incident_id = json.loads(opened.stdout)["id"]
    # WHEN an update names a component the page does not have
    result = cli(stack, "incident", "update", incident_id, "-c", "no-such-component=major_outage", "--body", "x")
    # THEN the API's 422 comes back naming the field
    assert result.returncode == 1
    assert "HTTP 422 invalid_field" in result.stderr
    assert "components.no-such-component" in result.stderr


def test_an_unreachable_api_is_a_clear_message(stack: Any) -> None:
    # GIVEN a port nobody listens on
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # WHEN a command runs against it
    result = cli(stack, "incident", "list", api=f"http://127.0.0.1:{port}")
    # THEN it says so and exits 3
    assert result.returncode == 3
    assert f"cannot reach the API at http://127.0.0.1:{port}" in result.stderr


def test_missing_configuration_and_body_are_usage_errors(stack: Any) -> None:
    # WHEN no API is configured at all
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUS_FANOUT_")}
    bare = subprocess.run([CLI, "incident", "list"], capture_output=True, text=True, env=env, check=False,
                          stdin=subprocess.DEVNULL)
    # THEN it names what to set, exit 2
    assert bare.returncode == 2 and "STATUS_FANOUT_API" in bare.stderr
    # WHEN an incident is opened with an empty body on stdin
    empty = cli(stack, "incident", "open", "Nothing said", stdin="")
    # THEN nothing is posted and it asks for the text
    assert empty.returncode == 2 and "--body" in empty.stderr


def test_a_repeated_open_with_the_same_idempotency_key_opens_one_incident(stack: Any, api: Api) -> None:
    # GIVEN an incident opened with a chosen Idempotency-Key
    args = ("incident", "open", "Webhook delays", "--body", "Checking.", "--idempotency-key", "cli-e2e-once", "--json")
    first = json.loads(ok(cli(stack, *args)).stdout)
    # WHEN the same command runs again (a retry after a lost answer)
    again = json.loads(ok(cli(stack, *args)).stdout)
    # THEN the API answers with the same incident, and the list holds it once
    assert again["id"] == first["id"]
    names = [i["name"] for i in api("GET", "/v1/incidents?limit=100").json["incidents"]]
    assert names.count("Webhook delays") == 1


def test_list_json_is_the_apis_shape_across_pages(stack: Any, api: Api) -> None:
    # GIVEN more incidents than one page of two
    for n in range(3):
        ok(cli(stack, "incident", "open", f"Paging {n}", "--body", "x"))
    # WHEN listed three at a time with pages of up to 100, and all of them
    three = json.loads(ok(cli(stack, "incident", "list", "--limit", "3", "--json")).stdout)
    every = json.loads(ok(cli(stack, "incident", "list", "--all", "--json")).stdout)
    # THEN the first is the API's first page of three, with its next_cursor; --all has them all
    assert three == api("GET", "/v1/incidents?limit=3").json
    assert three["next_cursor"]
    assert len(every["incidents"]) == len(api("GET", "/v1/incidents?limit=100").json["incidents"])
    assert every["next_cursor"] is None


def test_maintenance_schedule_list_cancel(stack: Any, api: Api) -> None:
    # GIVEN a component
    ok(cli(stack, "component", "set", "api", "operational", "--name", "API"))
    # WHEN a maintenance is scheduled for tomorrow, two hours long
    scheduled = json.loads(ok(cli(stack, "maintenance", "schedule", "Database upgrade", "--start", "+1d",
                                  "--end", "+2h", "-c", "api", "--body", "Upgrading the database.",
                                  "--json")).stdout)
    # THEN it is upcoming, listed, its window two hours
    assert scheduled["status"] == "scheduled"
    listed = ok(cli(stack, "maintenance", "list", "--status", "upcoming")).stdout
    assert scheduled["id"] in listed and "Database upgrade" in listed
    found = api("GET", f"/v1/maintenances/{scheduled['id']}").json
    assert found["scheduled_for"] == scheduled["scheduled_for"]
    # WHEN it is cancelled
    ok(cli(stack, "maintenance", "cancel", scheduled["id"], "--body", "Postponed."))
    # THEN it is no longer upcoming
    upcoming = api("GET", "/v1/maintenances?status=upcoming").json["maintenances"]
    assert scheduled["id"] not in [m["id"] for m in upcoming]


def test_component_set_changes_the_live_status(stack: Any, api: Api) -> None:
    ok(cli(stack, "component", "set", "dns", "operational", "--name", "DNS"))
    # WHEN staff set it down with the short form
    result = ok(cli(stack, "component", "set", "dns", "down"))
    # THEN the API has it as a major outage
    assert "major_outage" in result.stdout
    statuses = {c["id"]: c["status"] for c in api("GET", "/v1/components").json["components"]}
    assert statuses["dns"] == "major_outage"


def test_the_local_stack_commands_are_unchanged() -> None:
    # `hash-token` is still the argparse command (tests/e2e/test_cli.py runs `local` and `replay`)
    out = subprocess.run([CLI, "hash-token", "abc"], capture_output=True, text=True, check=True).stdout
    assert out == "sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
    helped = subprocess.run([CLI, "replay", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--key-prefix" in helped


# --- the routes of keys, audit, templates and subscribers, through the command ------------

def test_a_key_made_with_the_cli_works_until_the_cli_revokes_it(stack: Any, api: Api) -> None:
    # GIVEN a responder key made with `keys create`
    made = json.loads(ok(cli(stack, "keys", "create", "cli-responder", "--role", "responder", "--json")).stdout)
    assert made["key"].startswith("sfk_") and made["role"] == "responder"
    # WHEN it is used to open an incident
    opened = json.loads(ok(cli(stack, "incident", "open", "Key in use", "--body", "Checking.", "--json",
                               token=made["key"])).stdout)
    # THEN the incident says who opened it, and the key is listed (never the key itself)
    assert api("GET", f"/v1/incidents/{opened['id']}").json["created_by"] == "cli-responder"
    listed = ok(cli(stack, "keys", "list", "--json")).stdout
    assert made["key_id"] in listed and made["key"] not in listed
    assert made["key_id"] in ok(cli(stack, "keys", "list")).stdout
    # AND a responder is refused an admin's command with the API's 403
    refused = cli(stack, "keys", "list", token=made["key"])
    assert refused.returncode == 1 and "HTTP 403 forbidden" in refused.stderr and "admin" in refused.stderr
    # WHEN it is revoked with `keys revoke`
    assert f"revoked {made['key_id']}" in ok(cli(stack, "keys", "revoke", made["key_id"])).stdout
    # THEN its next command is refused with the API's 401 message, exit 1
    after = cli(stack, "incident", "list", token=made["key"])
    assert after.returncode == 1 and "HTTP 401 unauthorized" in after.stderr
    assert made["key_id"] not in ok(cli(stack, "keys", "list", "--json")).stdout


def test_the_audit_command_shows_the_apis_entries(stack: Any, api: Api) -> None:
    # GIVEN a viewer key that read the incidents, then tried to open one (403)
    made = json.loads(ok(cli(stack, "keys", "create", "cli-auditee", "--role", "viewer", "--json")).stdout)
    ok(cli(stack, "incident", "list", token=made["key"]))
    assert cli(stack, "incident", "open", "Not mine", "--body", "x", token=made["key"]).returncode == 1
    # WHEN an admin reads the audit log of that actor with --json
    shown = json.loads(ok(cli(stack, "audit", "--actor", "cli-auditee", "--json")).stdout)
    # THEN it is the API's answer: the refused POST alone (a read that passes is not audited)
    assert shown == api("GET", "/v1/audit?actor=cli-auditee&limit=50").json
    [entry] = shown["entries"]
    assert (entry["method"], entry["path"], entry["status"], entry["role"]) == ("POST", "/v1/incidents", 403, "viewer")
    # AND people get it as a table
    human = ok(cli(stack, "audit", "--actor", "cli-auditee")).stdout
    assert "cli-auditee" in human and "/v1/incidents" in human and "403" in human


def test_templates_saved_and_listed_with_the_cli_open_incidents(stack: Any, api: Api) -> None:
    assert api("PUT", "/v1/components/smtp-email", {"name": "SMTP Email"}).status in (200, 201)
    # WHEN a template is saved with `template save`
    ok(cli(stack, "template", "save", "smtp-down", "--name", "SMTP down", "--title", "Email delays",
           "--status", "investigating", "--impact", "major", "-c", "smtp-email=major_outage",
           "--body", "We are looking into delays."))
    # THEN `template list --json` is the API's list, and people see it in the table
    listed = json.loads(ok(cli(stack, "template", "list", "--json")).stdout)
    assert listed == api("GET", "/v1/templates").json
    [template] = [t for t in listed["templates"] if t["id"] == "smtp-down"]
    assert (template["name"], template["title"], template["components"]) == (
        "SMTP down", "Email delays", {"smtp-email": "major_outage"})
    assert "SMTP down" in ok(cli(stack, "template", "list")).stdout
    # AND `template use` opens an incident with its fields, the flag given overriding one
    opened = json.loads(ok(cli(stack, "template", "use", "smtp-down", "--body", "Delays on outbound mail.",
                               "--json")).stdout)
    assert (opened["name"], opened["impact"]) == ("Email delays", "major")
    assert opened["incident_updates"][0]["body"] == "Delays on outbound mail."


def test_subscribers_imported_and_exported_with_the_cli(stack: Any, api: Api, tmp_path: Path) -> None:
    assert api("PUT", "/v1/components/smtp-email", {"name": "SMTP Email"}).status in (200, 201)
    # GIVEN a CSV of four rows, the third (line 4) no address
    source = tmp_path / "subscribers.csv"
    source.write_text("email,components,state\ncli-a@example.com,smtp-email,\ncli-b@example.com,,\n"
                      "not-an-address,,\ncli-c@example.com,,confirmed\n")
    # WHEN it is imported with the consent for its confirmed row
    result = cli(stack, "subscribers", "import", str(source), "--consent", "confirmed_elsewhere", "--json")
    # THEN three are imported, the bad row is named by its line in the file, and the exit status says so
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert (report["imported"], report["merged"]) == (3, 0)
    assert [(r["line"], r["field"]) for r in report["rejected"]] == [(4, "email")]
    # WHEN the subscribers are exported as CSV to a file and as JSON
    target = tmp_path / "export.csv"
    ok(cli(stack, "subscribers", "export", "-o", str(target)))
    exported_json = ok(cli(stack, "subscribers", "export", "--json")).stdout
    # THEN the CSV holds them with their state; the JSON is the API's ?format=json answer
    text = target.read_bytes().decode()
    assert text.startswith("email,components,state,created\r\n")
    assert "cli-a@example.com,smtp-email,pending," in text and "cli-c@example.com,,confirmed," in text
    assert json.loads(exported_json) == api("GET", "/v1/subscribers/export?format=json").json
    # WHEN a JSON list with a bad item at position 2 is imported from stdin
    items = [{"email": "cli-d@example.com"}, {"email": "cli-e@example.com", "components": ["no-such"]}]
    listed = cli(stack, "subscribers", "import", "-", "--json", stdin=json.dumps(items))
    # THEN the bad item is reported by its position in the list
    assert [(r["line"], r["field"]) for r in json.loads(listed.stdout)["rejected"]] == [(2, "components")]
    # WHEN the JSON export is imported back as it is
    exported_file = tmp_path / "export.json"
    exported_file.write_text(exported_json)
    back = json.loads(ok(cli(stack, "subscribers", "import", str(exported_file), "--consent",
                             "confirmed_elsewhere", "--json")).stdout)
    # THEN nobody is added: every row merges with its subscriber
    assert (back["imported"], back["rejected"]) == (0, [])
    assert back["merged"] == len(json.loads(exported_json)["subscribers"])
