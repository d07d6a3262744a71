"""A maintenance's mails, one for each step, read back with Python's `email`
parser as a mail client reads them: the subject names the step, the body the
window in the page's zone, the update, the components and the maintenance's
page, and one maintenance's mails are one conversation."""

from __future__ import annotations

import html
from email.message import EmailMessage

import pytest

from status_fanout.email import messages as email_messages
from tests.unit.delivery.maintenance_events import (
    CANCELLED_NAME,
    NAME,
    STEPS,
    event_of,
    maintenance_events,
    relay_upgrade,
    window_of,
)
from tests.unit.email.test_messages import (
    LINE_MAX,
    QP_MAX,
    TOKEN,
    parse,
    rendered,  # noqa: F401 - the fixture
    threading_of,
    update_mail,
)

SUBJECTS = {"scheduled": "Scheduled", "reminder": "Reminder", "started": "In progress", "updated": "Update",
            "rescheduled": "Rescheduled", "completed": "Completed", "cancelled": "Cancelled"}


def parts(message: EmailMessage) -> tuple[str, str]:
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


@pytest.mark.parametrize("step", STEPS)
def test_each_step_is_a_mail_titled_by_the_step_showing_the_window_the_update_and_the_components(step: str) -> None:
    # GIVEN the event of one maintenance step, as the planner snapshotted it
    event = event_of(step)
    incident, update = event.incident or {}, event.update or {}
    name = CANCELLED_NAME if step == "cancelled" else NAME
    # WHEN a subscriber's mail of it is built and parsed
    message = parse(update_mail(event))
    text, rich = parts(message)
    # THEN the subject is the page, the maintenance and the step's label
    assert message["Subject"] == f"[Bottlenose] {name} — {SUBJECTS[step]}"
    for body in (text, html.unescape(rich)):
        # AND both parts show the window in the page's zone, the window it had at that step
        assert f"Maintenance window: {window_of(step)}" in body.replace("</strong>", "")
        # AND the step's label and the update's own text
        assert SUBJECTS[step] in body and update["body"] in body
        # AND every component the maintenance touches, and its page
        assert all(c["name"] in body for c in incident["components"])
        assert incident["shortlink"] in body
    assert f"View the maintenance: {incident['shortlink']}" in text
    assert "View the maintenance on the status page" in rich
    # AND a cancelled maintenance's window says it will not happen
    assert ("(cancelled)" in text) is (step == "cancelled")


def test_earlier_updates_are_labelled_by_their_steps_as_the_status_page_labels_them() -> None:
    # GIVEN the relay upgrade's completion, after a reschedule, a reminder, the start and an update
    text, _ = parts(parse(update_mail(event_of("completed"))))
    earlier = text.split("Earlier updates", 1)[1]
    # THEN each earlier update has its step's label, newest first, not one from its status alone
    labels = [line.split(" (", 1)[0] for line in earlier.splitlines() if line.endswith(" EST)")]
    assert labels == ["Update", "In progress", "Reminder", "Rescheduled", "Scheduled"]


def test_a_maintenance_name_and_text_are_escaped_in_the_html_part() -> None:
    event = event_of("scheduled")
    hostile = "<script>alert(1)</script> & <b>bold</b>"
    event = event.model_copy(update={"incident": {**(event.incident or {}), "name": hostile},
                                     "update": {**(event.update or {}), "body": hostile}})
    message = parse(update_mail(event))
    text, rich = parts(message)
    assert "<script>" not in rich and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in rich
    assert hostile in text


@pytest.mark.parametrize("step", STEPS)
def test_every_maintenance_mail_fits_the_mime_limits_and_decodes_to_what_was_rendered(
        step: str, rendered: list[str]) -> None:  # noqa: F811 - the fixture
    raw = update_mail(event_of(step))
    text, rich = rendered
    assert max(len(line) for line in raw.split(b"\r\n")) <= LINE_MAX
    message = parse(raw)
    leaves = [p for p in message.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in leaves] == ["text/plain", "text/html"]
    for part, body in zip(leaves, (text, rich), strict=True):
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert all(len(line) <= QP_MAX for line in str(part.get_payload()).splitlines())
        assert part.get_content().replace("\r\n", "\n") == body
    assert TOKEN in text


# --- threading --------------------------------------------------------------------

def test_one_maintenances_mails_are_one_conversation_rooted_at_its_announcement() -> None:
    # GIVEN every mail of the relay upgrade to one subscriber: scheduled, rescheduled, reminder,
    # started, updated, completed
    events = [e for e in maintenance_events() if (e.incident or {}).get("name") == NAME]
    assert [e.type.split(".")[1] for e in events] == [
        "scheduled", "rescheduled", "reminder", "started", "updated", "completed"]
    mails = [threading_of(update_mail(e)) for e in events]
    # THEN the announcement is the root: it replies to nothing
    (root, replies_to, references), *later = mails
    assert replies_to is None and references is None
    # AND every later mail names it
    assert [(r, refs) for _, r, refs in later] == [(root, root)] * 5
    assert len({mid for mid, _, _ in mails}) == 6
    # AND the cancelled migration's mails are a conversation of their own
    other = [threading_of(update_mail(e)) for e in maintenance_events() if (e.incident or {}).get("name") != NAME]
    assert other[0][1:] == (None, None) and other[1][1:] == (other[0][0], other[0][0])
    assert other[0][0] != root


def test_when_the_announcement_did_not_notify_the_first_mail_sent_is_the_root() -> None:
    # GIVEN the relay upgrade scheduled with notify: false: its first mail is the reschedule's
    events = relay_upgrade(first_notifies=False).events
    assert events[0].type == "maintenance.rescheduled"
    mails = [threading_of(update_mail(e)) for e in events]
    # THEN that mail roots the thread and every later one names it
    assert mails[0][1:] == (None, None)
    assert {m[1:] for m in mails[1:]} == {(mails[0][0], mails[0][0])}
    # AND the root is the one the first notifying update derives (nothing stored)
    assert email_messages.thread_root_update(events[-1].incident or {}) == (events[0].update or {})["id"]
