"""Subscriber import and export end to end (docs/subscriber-import.md): the
local stack, its API, its email sender and emulated SES, and the outbox of
.eml files read back with Python's `email` parser."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from status_fanout_local.stack import LocalStack
from tests.conftest import ROOT, Api, Reply, http
from tests.support.inbox import FORM, Outbox, link, stack_with_outbox, subscriber, wait_for

pytestmark = pytest.mark.e2e
SES_EVENTS = ROOT / "events" / "ses"
# A send rate well above SES's default keeps a thousand confirmation mails to a minute or so.
ENV = {"FANOUT_SHARDS": "4", "EMAIL_RETRY_BASE_SECONDS": "1", "EMAIL_MAX_SEND_RATE": "500"}
CSV_TYPE = {"Content-Type": "text/csv"}
COMPONENTS = ("smtp-email", "pop3-imap-email")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with stack_with_outbox(tmp_path_factory.mktemp("outbox"), ENV) as running:
        yield running


@pytest.fixture(scope="module")
def outbox(stack: LocalStack) -> Outbox:
    return Outbox(stack.outbox_dir)


@pytest.fixture(scope="module", autouse=True)
def components(api: Api) -> None:
    for position, (cid, name) in enumerate(zip(COMPONENTS, ("SMTP Email", "POP3/IMAP Email"), strict=True)):
        assert api("PUT", f"/v1/components/{cid}", {"name": name, "group": "Email", "position": position}).status \
            in (200, 201)


def tag() -> str:
    return uuid.uuid4().hex[:8]


def settle(stack: LocalStack) -> None:
    """Every job handled, and the outbox caught up."""
    stack.wait_idle(timeout=180)
    time.sleep(0.5)


def post_csv(api: Api, text: str, query: str = "") -> Reply:
    return api("POST", f"/v1/subscribers/import{query}", raw=text.encode(), headers=CSV_TYPE, timeout=120)


def thousand_rows(run: str, state: str = "") -> tuple[str, set[str]]:
    """A CSV of 1,000 rows (lines 2-1001) with three bad ones: line 10 an invalid
    address, line 500 an unknown component, line 900 the address of line 2 again."""
    lines = ["email,components,state"]
    good: set[str] = set()
    for n in range(2, 1002):
        who = f"bulk-{run}-{n}@example.com"
        components = COMPONENTS[n % 2] if n % 3 else ""
        if n == 10:
            who = f"not-an-address-{run}"
        elif n == 500:
            components = "smtp-email;no-such-component"
        elif n == 900:
            who = f"Bulk-{run}-2@Example.com"  # the same address as line 2, as addresses compare
        else:
            good.add(who)
        lines.append(f"{who},{components},{state}")
    return "\n".join(lines) + "\n", good


BAD_LINES = [(10, "email"), (500, "components"), (900, "email")]


def confirmations(outbox: Outbox, addresses: set[str]) -> dict[str, list[Any]]:
    return {who: mails for who, mails in outbox.by_recipient().items() if who in addresses}


def test_an_import_reports_bad_rows_by_line_and_mails_every_other_row_once(
        stack: LocalStack, api: Api, outbox: Outbox) -> None:
    # GIVEN a CSV of 1,000 rows, three of them bad
    text, good = thousand_rows(tag())
    # WHEN staff import it
    reply = post_csv(api, text)
    # THEN the 997 good rows are imported and each bad one is reported by its line in the file
    assert reply.status == 200, reply.raw
    report = reply.json
    assert (report["imported"], report["merged"], report["opt_in_sent"]) == (997, 0, 997)
    assert [(r["line"], r["field"]) for r in report["rejected"]] == BAD_LINES
    assert "line 2" in report["rejected"][2]["message"]
    # AND each imported address gets exactly one confirmation mail, through the sender and SES
    wait_for(lambda: len(confirmations(outbox, good)) == 997, timeout=300)
    settle(stack)
    mails = confirmations(outbox, good)
    assert len(mails) == 997 and all(len(m) == 1 for m in mails.values())
    who = sorted(good)[0]
    assert mails[who][0]["Subject"].endswith("Confirm your subscription")
    # AND nobody is confirmed before clicking, and the link in the mail confirms
    assert subscriber(api, who)["state"] == "pending"
    assert http(link(mails[who][0], "confirm"), "POST", raw=b"", headers=FORM).status == 200
    assert subscriber(api, who)["state"] == "confirmed"

    # WHEN the same file is imported a second time
    sent_before = sum(len(m) for m in outbox.by_recipient().values())
    again = post_csv(api, text)
    # THEN nobody is added, every good row merges with its subscriber, and no mail goes out
    assert again.status == 200, again.raw
    assert (again.json["imported"], again.json["merged"], again.json["opt_in_sent"]) == (0, 997, 0)
    assert [(r["line"], r["field"]) for r in again.json["rejected"]] == BAD_LINES
    settle(stack)
    assert sum(len(m) for m in outbox.by_recipient().values()) == sent_before
    # AND the confirmed subscriber stays confirmed (merging keeps the subscriber as it is)
    assert subscriber(api, who)["state"] == "confirmed"


def test_rows_confirmed_elsewhere_need_consent_and_get_no_mail(stack: LocalStack, api: Api, outbox: Outbox) -> None:
    # GIVEN a CSV of 1,000 rows marked confirmed, three of them bad
    text, good = thousand_rows(tag(), state="confirmed")
    # WHEN staff import it without saying where consent was given
    refused = post_csv(api, text)
    # THEN no row is imported: each confirmed row is reported, naming consent
    assert refused.status == 200, refused.raw
    assert refused.json["imported"] == 0 and refused.json["opt_in_sent"] == 0
    assert {r["field"] for r in refused.json["rejected"]} == {"consent", "email", "components"}
    assert sum(r["field"] == "consent" for r in refused.json["rejected"]) == 997
    # WHEN they import it with consent=confirmed_elsewhere
    reply = post_csv(api, text, "?consent=confirmed_elsewhere")
    # THEN the 997 are imported confirmed, and nobody is sent an opt-in mail
    assert reply.status == 200, reply.raw
    assert (reply.json["imported"], reply.json["opt_in_sent"]) == (997, 0)
    assert [(r["line"], r["field"]) for r in reply.json["rejected"]] == BAD_LINES
    settle(stack)
    assert confirmations(outbox, good) == {}
    who = sorted(good)[0]
    found = subscriber(api, who)
    assert found["state"] == "confirmed" and found["consent"] == "confirmed_elsewhere"


def feedback(stack: LocalStack, sample: str, placeholder: str, who: str) -> Any:
    event = json.loads((SES_EVENTS / f"{sample}.json").read_text().replace(placeholder, who))
    return stack.invoke("EmailFeedbackFunction", event)


def test_bad_cells_are_reported_and_suppressed_addresses_stay_suppressed(
        stack: LocalStack, api: Api, outbox: Outbox) -> None:
    run = tag()
    bounced, fine = f"bounced-{run}@example.com", f"fine-{run}@example.com"
    # GIVEN an imported subscriber whose address then bounced hard (SES feedback)
    assert post_csv(api, f"email\n{bounced}\n").json["imported"] == 1
    wait_for(lambda: len(outbox.to(bounced)) == 1)
    feedback(stack, "bounce-permanent", "bounce@example.com", bounced)
    assert subscriber(api, bounced)["state"] == "suppressed"
    # WHEN a file names it again, among rows with a bad state, a bad time and a cell too many
    text = (f"Email,State,Created\r\n{bounced},,\r\n\r\n{fine},sleeping,\r\n{fine},pending,yesterday\r\n"
            f'"{fine}",pending,2024-05-01T12:00:00Z,extra\r\n{fine},pending,2024-05-01T12:00:00Z\r\n')
    reply = post_csv(api, text)
    # THEN the bounced address is reported and not subscribed again; each bad row by its line
    assert reply.status == 200, reply.raw
    assert [(r["line"], r["field"]) for r in reply.json["rejected"]] == [
        (2, "email"), (4, "state"), (5, "created"), (6, "row")]
    assert "bounced" in reply.json["rejected"][0]["message"]
    assert (reply.json["imported"], reply.json["opt_in_sent"]) == (1, 1)
    assert subscriber(api, bounced)["state"] == "suppressed"
    assert subscriber(api, fine)["created_at"] == "2024-05-01T12:00:00.000Z"
    settle(stack)
    assert len(outbox.to(bounced)) == 1


def exported(api: Api, query: str = "", accept: str | None = None) -> Reply:
    return api("GET", f"/v1/subscribers/export{query}", headers={"Accept": accept} if accept else None, timeout=120)


def test_an_export_imports_back_as_nobody_new_and_escapes_formulas(
        stack: LocalStack, api: Api, outbox: Outbox) -> None:
    run = tag()
    risky = [f"=1+2-{run}@example.com", f"+cmd-{run}@example.com", f"-x-{run}@example.com"]
    # GIVEN subscribers whose addresses a spreadsheet would read as formulas
    body = "email,components\n" + "".join(f"{who},smtp-email\n" for who in risky)
    assert post_csv(api, body).json["imported"] == 3
    # WHEN staff export the subscribers as CSV
    reply = exported(api)
    # THEN every subscriber is a row of email, components, state, created, oldest first
    assert reply.status == 200, reply.raw
    assert reply.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.raw.decode())))
    assert list(rows[0]) == ["email", "components", "state", "created"]
    assert [r["created"] for r in rows] == sorted(r["created"] for r in rows)
    # AND no cell starts a formula: those addresses carry a leading apostrophe
    by_email = {r["email"]: r for r in rows}
    for who in risky:
        assert by_email[f"'{who}"]["components"] == "smtp-email"
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    # WHEN the export is imported back as it is
    before = len(rows)
    back = post_csv(api, reply.raw.decode())
    # THEN nobody is added and nobody mailed: every row merges, none is rejected
    assert back.status == 200, back.raw
    assert (back.json["imported"], back.json["merged"], back.json["rejected"], back.json["opt_in_sent"]) == \
        (0, before, [], 0)
    # AND the JSON export (Accept: application/json) posts back as it is too
    as_json = exported(api, accept="application/json")
    assert as_json.headers["Content-Type"].startswith("application/json")
    assert f"=1+2-{run}@example.com" in {s["email"] for s in as_json.json["subscribers"]}
    again = api("POST", "/v1/subscribers/import", raw=as_json.raw, timeout=120)
    assert (again.json["imported"], again.json["merged"], again.json["rejected"]) == (0, before, [])
    assert len(list(csv.DictReader(io.StringIO(exported(api).raw.decode())))) == before


def test_an_export_pages_with_a_cursor(api: Api) -> None:
    # GIVEN more subscribers than one page asked for
    total = len(list(csv.DictReader(io.StringIO(exported(api).raw.decode()))))
    assert total > 1500
    # WHEN staff export with limit=700 and follow the cursor
    seen: list[str] = []
    query = "?limit=700&format=json"
    while True:
        page = exported(api, query)
        assert page.status == 200, page.raw
        seen += [s["email"] for s in page.json["subscribers"]]
        if not page.json["next_cursor"]:
            break
        assert page.headers["X-Next-Cursor"] == page.json["next_cursor"]
        query = f"?limit=700&format=json&cursor={page.json['next_cursor']}"
    # THEN every subscriber comes once
    assert len(seen) == len(set(seen)) == total


def test_bad_import_requests_are_refused_naming_the_field(api: Api) -> None:
    cases: list[tuple[bytes, dict[str, str], str, int, str]] = [
        (b"", CSV_TYPE, "", 422, "body"),
        (b"address,components\nx@example.com,\n", CSV_TYPE, "", 422, "header"),
        (b'email\n"unterminated@example.com\n', CSV_TYPE, "", 400, "body"),
        (b"email\nx@example.com\n", CSV_TYPE, "?consent=yes", 422, "consent"),
        (b"not json", {}, "", 400, "body"),
        (json.dumps("x@example.com").encode(), {}, "", 422, "subscribers"),  # neither a list nor the object
        (json.dumps({"subscribers": [], "consent": "maybe"}).encode(), {}, "", 422, "consent"),
        (("email\n" + "x@example.com\n" * 10_001).encode(), CSV_TYPE, "", 413, "body"),
    ]
    for raw, headers, query, status, field in cases:
        # WHEN staff post it
        reply = api("POST", f"/v1/subscribers/import{query}", raw=raw, headers=headers)
        # THEN a 4xx names the field
        assert reply.status == status, (raw[:60], reply.raw)
        assert reply.json["error"]["details"][0]["field"] == field, (raw[:60], reply.json)
    # AND a body over 2 MiB is refused before it is read, as the other routes refuse one over 256 KiB
    big = api("POST", "/v1/subscribers/import", raw=b"email\n" + b"y" * (2 * 1024 * 1024), headers=CSV_TYPE)
    assert big.status == 413
    # AND the routes are staff routes
    assert api("GET", "/v1/subscribers/export", auth=False).status == 401
    assert api("POST", "/v1/subscribers/import", raw=b"email\n", headers=CSV_TYPE, auth=False).status == 401


def test_an_import_is_one_audit_entry_with_its_counts(api: Api) -> None:
    # GIVEN an admin key of its own, and an import of more rows than one transaction takes (about 50)
    made = api("POST", "/v1/keys", {"name": f"importer-{tag()}", "role": "admin"})
    importer = Api(api.url, made.json["key"])
    run = tag()
    text = "email,components\n" + "".join(f"audit-{run}-{n}@example.com,smtp-email\n" for n in range(120)) + \
        "not-an-address,\n"
    # WHEN it imports them
    reply = post_csv(importer, text)
    assert reply.status == 200, reply.raw
    # THEN the audit log holds one entry for the import, with what it did and no target
    log = api("GET", f"/v1/audit?actor={made.json['name']}").json["entries"]
    [entry] = log
    assert (entry["method"], entry["path"], entry["status"], entry["target_id"]) == (
        "POST", "/v1/subscribers/import", 200, None)
    assert entry["counts"] == {"imported": 120, "merged": 0, "rejected": 1, "opt_in_sent": 120}
    # AND an import that adds nobody is one entry too
    again = post_csv(importer, text)
    assert again.json["imported"] == 0
    newest = api("GET", f"/v1/audit?actor={made.json['name']}").json["entries"]
    assert len(newest) == 2 and newest[0]["counts"] == {"imported": 0, "merged": 120, "rejected": 1,
                                                        "opt_in_sent": 0}
