"""Google Chat: every message made only of the fields Chat's API reference
documents for a webhook message's `text` and `cardsV2` (Chat refuses an
unknown field), within its limits: text ≤ 4,096 characters, ≤ 32,000 bytes."""

from __future__ import annotations

from typing import Any

import pytest

from status_fanout.delivery.events import EventSnapshot
from tests.unit.chat.events import (
    every_event,
    largest_maintenance_update,
    largest_update,
    message,
    update_with,
    wire_size,
    words,
)

TEXT_MAX = 4096
BODY_MAX = 4000
MESSAGE_MAX_BYTES = 32_000
# What each object of a card may hold, as Chat's reference (cards v2) names it.
MESSAGE_FIELDS = {"text", "cardsV2"}
CARD_WITH_ID_FIELDS = {"cardId", "card"}
CARD_FIELDS = {"header", "sections"}
HEADER_FIELDS = {"title", "subtitle"}
SECTION_FIELDS = {"header", "collapsible", "uncollapsibleWidgetsCount", "widgets"}
WIDGETS = {"textParagraph": {"text"}, "decoratedText": {"topLabel", "text", "bottomLabel"},
           "buttonList": {"buttons"}}
BUTTON_FIELDS = {"text", "onClick"}


def google_chat_messages() -> dict[str, EventSnapshot]:
    return {**every_event(), "20,000 characters of words": update_with(body=words()),
            "largest update": largest_update(), "largest update of <": largest_update("<"),
            "largest update of emoji": largest_update("😀"),
            "largest maintenance update": largest_maintenance_update()}


def assert_fields(value: dict[str, Any], allowed: set[str], where: str) -> None:
    assert set(value) <= allowed, f"{where}: {sorted(set(value) - allowed)} are not Chat fields"


def assert_chat_accepts(document: dict[str, Any]) -> dict[str, Any]:
    assert_fields(document, MESSAGE_FIELDS, "message")
    assert 0 < len(document["text"]) <= TEXT_MAX
    (card_with_id,) = document["cardsV2"]
    assert_fields(card_with_id, CARD_WITH_ID_FIELDS, "cardsV2[]")
    assert isinstance(card_with_id["cardId"], str) and card_with_id["cardId"]
    card = card_with_id["card"]
    assert_fields(card, CARD_FIELDS, "card")
    assert_fields(card["header"], HEADER_FIELDS, "card.header")
    assert card["header"]["title"]
    for section in card["sections"]:
        assert_fields(section, SECTION_FIELDS, "section")
        assert isinstance(section.get("collapsible", False), bool)
        assert isinstance(section.get("uncollapsibleWidgetsCount", 0), int)
        assert isinstance(section.get("header", ""), str)
        assert section["widgets"], "a section without widgets"
        for widget in section["widgets"]:
            (kind,) = widget  # a widget is exactly one of its kinds
            assert kind in WIDGETS, f"{kind} is not a widget we may send"
            assert_fields(widget[kind], WIDGETS[kind], kind)
            if kind == "textParagraph":
                assert len(widget[kind]["text"]) <= BODY_MAX
            if kind == "decoratedText":
                assert widget[kind]["text"]
            for button in widget.get("buttonList", {}).get("buttons", []):
                assert_fields(button, BUTTON_FIELDS, "button")
                assert button["onClick"] == {"openLink": {"url": button["onClick"]["openLink"]["url"]}}
                assert button["onClick"]["openLink"]["url"].startswith("https://")
    size = wire_size(document)
    assert size <= MESSAGE_MAX_BYTES
    return card


@pytest.mark.parametrize("name", list(google_chat_messages()))
def test_every_google_chat_message_has_only_documented_fields_within_chats_limits(name: str) -> None:
    # GIVEN an event (every seed update, the postmortem, a component change, a test ping, the largest ones)
    event = google_chat_messages()[name]
    # WHEN its Google Chat message is built
    document = message("google_chat", event)
    # THEN it has only fields Chat documents, its text ≤ 4,096 characters, and ≤ 32,000 bytes in all
    assert_chat_accepts(document)


def test_the_largest_update_keeps_its_text_and_link_when_its_components_are_long() -> None:
    # GIVEN an update as large as the API takes, 97 components of 255-character names among it
    card = assert_chat_accepts(message("google_chat", largest_update("😀")))
    # THEN its text is there, cut, with the link; and as many components as fit are listed
    (paragraph,) = [w["textParagraph"]["text"] for s in card["sections"] for w in s["widgets"] if "textParagraph" in w]
    assert paragraph.startswith("😀😀😀") and '…' in paragraph
    assert paragraph.endswith('">Read the full update</a>')
    (components,) = [s for s in card["sections"] if s.get("header") == "Components"]
    assert components["widgets"]
    assert components["uncollapsibleWidgetsCount"] <= len(components["widgets"])


def test_a_google_chat_card_shows_the_incident_its_status_components_time_and_link() -> None:
    # WHEN the seed's first update is sent to Google Chat
    document = message("google_chat", every_event()["incident.created #0 (Investigating)"])
    card = document["cardsV2"][0]["card"]
    status, components, link = card["sections"]
    # THEN the card shows the incident, the page, the status with its marker in the page's zone, the text
    assert card["header"] == {"title": "Mail platform outage", "subtitle": "Bottlenose"}
    assert status["widgets"][0]["decoratedText"] == {"topLabel": "Status", "text": "🔴 <b>Investigating</b>",
                                                     "bottomLabel": "Aug 30, 2018 - 18:18 EDT"}
    assert status["widgets"][1]["textParagraph"]["text"] == (
        "We have seen a major outrage with our email service platform")
    # AND the components with their statuses, and a button to the incident
    assert [(w["decoratedText"]["topLabel"], w["decoratedText"]["text"]) for w in components["widgets"]] == [
        ("SMTP Email", "Major Outage"), ("Transactional Emails", "Major Outage"),
        ("Email Marketing", "Major Outage"), ("POP3/IMAP Email", "Major Outage")]
    button = link["widgets"][0]["buttonList"]["buttons"][0]
    assert button["text"] == "View incident"
    assert button["onClick"]["openLink"]["url"].startswith("https://status.example.com/incidents/")
    assert document["text"] == "Bottlenose: Mail platform outage — Investigating"
