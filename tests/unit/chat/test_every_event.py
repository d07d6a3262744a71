"""Every event a chat endpoint is sent reads right in every app: the
postmortem as a postmortem, a component change as that change, a test ping as
a test, each coloured as the status page colours it."""

from __future__ import annotations

import pytest

from status_fanout.chat import formats
from tests.unit.chat.events import FORMATS, event_named, every_event, message, ping_event, strings

GREEN, RED = 0x2FCC66, 0xE74C3C


@pytest.mark.parametrize("body_format", FORMATS)
@pytest.mark.parametrize("name", list(every_event()))
def test_every_event_yields_each_formats_message_naming_the_incident_and_its_status(
        body_format: str, name: str) -> None:
    # GIVEN an event of any type (the seed's updates and postmortem, a component change, a test ping)
    event = every_event()[name]
    # WHEN it is built for the app
    text = "\n".join(strings(message(body_format, event)))
    # THEN the message names the page and what it is about
    assert "Bottlenose" in text
    about = {"component.updated": "Email Marketing", "webhook.test": "Test message"}.get(
        event.type, "Mail platform outage")
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
