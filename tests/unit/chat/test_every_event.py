"""Every event a chat endpoint is sent reads right in every app: the
postmortem as a postmortem, a maintenance's steps as that maintenance (its
window, its step, blue), a component change as that change, a test ping as
a test, each coloured as the status page colours it."""

from __future__ import annotations

import pytest

from status_fanout.chat import formats
from tests.unit.chat.events import FORMATS, event_named, every_event, message, ping_event, strings
from tests.unit.delivery.maintenance_events import MOVED_WINDOW, STEPS, event_of, window_of

GREEN, RED = 0x2FCC66, 0xE74C3C


@pytest.mark.parametrize("body_format", FORMATS)
@pytest.mark.parametrize("name", list(every_event()))
def test_every_event_yields_each_formats_message_naming_the_incident_and_its_status(
        body_format: str, name: str) -> None:
    # GIVEN an event of any type (the seed's updates and postmortem, every maintenance step,
    # a component change, a test ping)
    event = every_event()[name]
    # WHEN it is built for the app
    text = "\n".join(strings(message(body_format, event)))
    # THEN the message names the page and what it is about
    assert "Bottlenose" in text
    about = {"component.updated": "Email Marketing", "webhook.test": "Test message"}.get(event.type) or (
        (event.incident or {})["name"] if event.type.startswith("maintenance.") else "Mail platform outage")
    assert about in text


@pytest.mark.parametrize("body_format", FORMATS)
def test_a_postmortem_is_labelled_postmortem_and_carries_its_text(body_format: str) -> None:
    # GIVEN the seed's postmortem
    event = event_named("incident.postmortem")
    # WHEN it is sent to the app
    text = "\n".join(strings(message(body_format, event)))
    # THEN it says "Postmortem" and shows the postmortem's own text, not the last update's
    assert "Postmortem" in text
    assert "We would like to apologize for the interruption of email services" in text
    assert "This incident has been resolved." not in text


@pytest.mark.parametrize("body_format", FORMATS)
def test_a_component_change_says_what_changed(body_format: str) -> None:
    # GIVEN Email Marketing going from operational to degraded performance
    text = "\n".join(strings(message(body_format, event_named("component.updated"))))
    # THEN the app shows the component, its new status and the change
    assert "Email Marketing" in text and "Degraded Performance" in text
    assert "changed from Operational to Degraded Performance" in text


@pytest.mark.parametrize("body_format", FORMATS)
def test_a_test_ping_says_it_is_a_test_and_links_to_the_status_page(body_format: str) -> None:
    text = "\n".join(strings(message(body_format, ping_event())))
    assert "Test message" in text and "This is a test message from status-fanout." in text
    assert "https://status.example.com" in text


def test_a_resolved_update_is_green_and_a_critical_one_red() -> None:
    # GIVEN the seed's first update (critical impact) and its resolved update
    critical, resolved = event_named("incident.created #0"), event_named("incident.updated #5 (Resolved)")
    # THEN Discord colours them red and green
    assert formats.body("discord", critical)["embeds"][0]["color"] == RED == 0xE74C3C
    assert formats.body("discord", resolved)["embeds"][0]["color"] == GREEN
    # AND Teams styles the card's header attention (red) and good (green)
    header = formats.body("teams", critical)["attachments"][0]["content"]["body"][0]
    assert header["style"] == "attention"
    # (the label keeps the default colour: Teams' warning text on a warning background is unreadable)
    assert "color" not in header["items"][2]
    assert formats.body("teams", resolved)["attachments"][0]["content"]["body"][0]["style"] == "good"
    # AND Slack and Google Chat, which colour nothing, start with a red or green marker
    assert formats.body("slack", critical)["blocks"][0]["text"]["text"].startswith("🔴")
    assert formats.body("slack", resolved)["blocks"][0]["text"]["text"].startswith("🟢")
    status = formats.body("google_chat", resolved)["cardsV2"][0]["card"]["sections"][0]["widgets"][0]
    assert status["decoratedText"]["text"].startswith("🟢")


def test_a_degraded_component_is_yellow() -> None:
    event = event_named("component.updated")
    assert formats.body("discord", event)["embeds"][0]["color"] == 0xF1C40F
    assert formats.body("teams", event)["attachments"][0]["content"]["body"][0]["style"] == "warning"


BLUE = 0x3498DB
STEP_LABELS = {"scheduled": "Scheduled", "reminder": "Reminder", "started": "In progress", "updated": "Update",
               "rescheduled": "Rescheduled", "completed": "Completed", "cancelled": "Cancelled"}


@pytest.mark.parametrize("body_format", FORMATS)
@pytest.mark.parametrize("step", STEPS)
def test_a_maintenance_message_shows_its_step_window_components_and_link_in_blue(
        body_format: str, step: str) -> None:
    # GIVEN the event of one maintenance step, as the planner snapshotted it
    event = event_of(step)
    incident = event.incident or {}
    # WHEN it is sent to the app
    document = message(body_format, event)
    text = "\n".join(strings(document))
    # THEN it names the maintenance and the step's label
    assert incident["name"] in text and STEP_LABELS[step] in text
    # AND its window, in the page's zone (the one it had when the step was taken)
    assert "Maintenance window" in text and window_of(step) in text
    # AND the update's text, and every component it touches
    assert (event.update or {})["body"].split(".")[0] in text
    assert all(c["name"] in text for c in incident["components"])
    # AND a link to the maintenance's page
    assert "View maintenance" in text or body_format == "discord"
    assert incident["shortlink"] in text
    # AND it is blue at every step, as the status page shows a maintenance
    if body_format == "discord":
        assert document["embeds"][0]["color"] == BLUE
    elif body_format == "teams":
        assert document["attachments"][0]["content"]["body"][0]["style"] == "accent"
    else:
        assert "🔵" in text


def test_a_maintenance_message_has_the_window_in_each_apps_own_place() -> None:
    # GIVEN the relay upgrade's reminder (after its move to Dec 4, 02:00-04:30 EST)
    event = event_of("reminder")
    # THEN Slack shows it in a section of its own after the status line, and in the notification text
    slack = formats.body("slack", event)
    assert slack["blocks"][2]["text"]["text"] == f"*Maintenance window:* {MOVED_WINDOW}"
    assert slack["text"] == f"Bottlenose: Mail relay upgrade — Reminder ({MOVED_WINDOW})"
    # AND Teams as a line of the card's blue header
    header = formats.body("teams", event)["attachments"][0]["content"]["body"][0]
    assert header["items"][3]["text"] == f"**Maintenance window:** {MOVED_WINDOW}"
    # AND Discord as a field of its own line, after the status
    fields = formats.body("discord", event)["embeds"][0]["fields"]
    assert fields[:2] == [{"name": "Status", "value": "Reminder", "inline": True},
                          {"name": "Maintenance window", "value": MOVED_WINDOW, "inline": False}]
    # AND Google Chat under the status
    widgets = formats.body("google_chat", event)["cardsV2"][0]["card"]["sections"][0]["widgets"]
    assert widgets[1] == {"decoratedText": {"topLabel": "Maintenance window", "text": MOVED_WINDOW}}


def test_an_incident_message_has_no_window() -> None:
    event = event_named("incident.created #0")
    assert all("Maintenance window" not in "\n".join(strings(message(f, event))) for f in FORMATS)


def test_a_started_maintenance_shows_its_components_under_maintenance_and_a_completed_one_restored() -> None:
    started, completed = event_of("started"), event_of("completed")
    fields = formats.body("discord", started)["embeds"][0]["fields"]
    assert [(f["name"], f["value"]) for f in fields[2:]] == [("SMTP Email", "Under Maintenance"),
                                                            ("POP3/IMAP Email", "Under Maintenance")]
    fields = formats.body("discord", completed)["embeds"][0]["fields"]
    assert [(f["name"], f["value"]) for f in fields[2:]] == [("SMTP Email", "Operational"),
                                                            ("POP3/IMAP Email", "Operational")]
