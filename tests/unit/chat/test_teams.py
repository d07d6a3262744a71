"""Microsoft Teams: the Adaptive Card validated against the Adaptive Card schema
(data/schemas/adaptive-card.json, draft-06), the Workflows message around it
checked by hand (the schema does not cover it), and Teams' 28 KB ceiling."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft6Validator

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

SCHEMA = Path(__file__).resolve().parents[3] / "data" / "schemas" / "adaptive-card.json"
MESSAGE_MAX_BYTES = 28 * 1024


@cache
def validator() -> Draft6Validator:
    schema = json.loads(SCHEMA.read_text())
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)


def card_errors(card: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator().iter_errors(card)]


def teams_messages() -> dict[str, EventSnapshot]:
    multibyte = [f"Ωμέγα サービス 🚀 {n}" for n in range(60)]
    return {**every_event(),
            "20,000 characters and 60 multi-byte components": update_with(body=words(), components=multibyte),
            "largest update": largest_update(), "largest update of emoji": largest_update("😀"),
            "largest update of <": largest_update("<"),
            "largest maintenance update": largest_maintenance_update()}


def assert_teams_accepts(document: dict[str, Any]) -> dict[str, Any]:
    assert document["type"] == "message"
    (attachment,) = document["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card_errors(card) == []
    size = wire_size(document)
    assert size <= MESSAGE_MAX_BYTES
    return card


def test_the_schema_refuses_what_teams_would() -> None:
    # The zero-errors checks below mean something only if the schema catches a bad card.
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "x", "colour": "red"}]}
    assert card_errors(card) != []


@pytest.mark.parametrize("name", list(teams_messages()))
def test_every_teams_message_is_a_valid_adaptive_card_within_28_kb(name: str) -> None:
    # GIVEN an event (every seed update, the postmortem, a component change, a test ping, the largest ones)
    event = teams_messages()[name]
    # WHEN its Teams message is built
    document = message("teams", event)
    # THEN it is a Workflows message with one Adaptive Card 1.5 the schema accepts, and fits 28 KB
    assert_teams_accepts(document)


def test_a_long_update_is_cut_to_fit_and_every_component_is_still_listed() -> None:
    # GIVEN a 20,000-character update affecting 60 components with multi-byte names
    names = [f"Ωμέγα サービス 🚀 {n}" for n in range(60)]
    document = message("teams", update_with(body=words(), components=names))
    card = assert_teams_accepts(document)
    # THEN the card lists the first 50 components whole
    (facts,) = [b["facts"] for b in card["body"] if b["type"] == "FactSet"]
    assert [f["title"] for f in facts] == names[:50]
    # AND the update's text is cut, ending with the link to the rest
    text = card["body"][1]["text"]
    assert "…\n\n[Read the full update](https://status.example.com/incidents/" in text


def test_a_teams_card_shows_the_incident_its_status_time_and_link() -> None:
    # WHEN the seed's first update is sent to Teams
    card = message("teams", every_event()["incident.created #0 (Investigating)"])["attachments"][0]["content"]
    header = card["body"][0]
    page, title, status = (item["text"] for item in header["items"])
    # THEN the page, the incident and its status in the page's zone head the card
    assert (page, title, status) == ("Bottlenose", "Mail platform outage",
                                     "**Investigating** · Aug 30, 2018 - 18:18 EDT")
    assert card["body"][1]["text"] == "We have seen a major outrage with our email service platform"
    assert card["actions"][0]["type"] == "Action.OpenUrl"
    assert card["actions"][0]["url"].startswith("https://status.example.com/incidents/")
    assert card["fallbackText"] == "Bottlenose: Mail platform outage — Investigating"


def test_each_line_of_an_update_is_its_own_paragraph_in_teams() -> None:
    # GIVEN an update written on three lines
    event = update_with(body="Relays drained.\nQueues replaying.\nNext update in 30 minutes.")
    # WHEN it is sent to Teams
    card = assert_teams_accepts(message("teams", event))
    # THEN the lines stay apart (a TextBlock joins single line breaks into one paragraph)
    [update] = [b for b in card["body"] if b["type"] == "TextBlock"]
    assert update["text"] == "Relays drained.\n\nQueues replaying.\n\nNext update in 30 minutes."
