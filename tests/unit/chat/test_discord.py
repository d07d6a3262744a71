"""Discord: every message within the limits Discord's embed reference documents
(an embed over any of them is refused with a 400), with no mention allowed."""

from __future__ import annotations

from typing import Any

import pytest

from status_fanout.delivery.events import EventSnapshot
from tests.unit.chat.events import every_event, largest_maintenance_update, largest_update, message, update_with, words

# Discord's "Embed Limits".
TITLE_MAX, DESCRIPTION_MAX, FIELDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX = 256, 4096, 25, 256, 1024
FOOTER_MAX, AUTHOR_MAX, EMBEDS_MAX, TOTAL_MAX = 2048, 256, 10, 6000


def discord_messages() -> dict[str, EventSnapshot]:
    return {**every_event(), "20,000 characters of words": update_with(body=words()),
            "largest update": largest_update(), "largest update of <": largest_update("<"),
            "largest update of emoji": largest_update("😀"),
            "largest maintenance update": largest_maintenance_update()}


def embed_characters(embed: dict[str, Any]) -> int:
    """What Discord counts towards the 6,000 characters of a message's embeds."""
    return (len(embed.get("title", "")) + len(embed.get("description", ""))
            + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
            + len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", "")))


def assert_discord_accepts(document: dict[str, Any]) -> dict[str, Any]:
    embeds = document["embeds"]
    assert 1 <= len(embeds) <= EMBEDS_MAX
    for embed in embeds:
        assert 0 < len(embed["title"]) <= TITLE_MAX
        assert len(embed.get("description", "")) <= DESCRIPTION_MAX
        assert len(embed["fields"]) <= FIELDS_MAX
        for field in embed["fields"]:
            assert 0 < len(field["name"]) <= FIELD_NAME_MAX and 0 < len(field["value"]) <= FIELD_VALUE_MAX
        assert len(embed["footer"]["text"]) <= FOOTER_MAX
        assert len(embed["author"]["name"]) <= AUTHOR_MAX
        assert isinstance(embed["color"], int) and not isinstance(embed["color"], bool)
        assert 0 <= embed["color"] <= 0xFFFFFF
    total = sum(embed_characters(embed) for embed in embeds)
    assert total <= TOTAL_MAX
    # Nobody can be pinged, whatever the text says.
    assert document["allowed_mentions"] == {"parse": []}
    first: dict[str, Any] = embeds[0]
    return first


@pytest.mark.parametrize("name", list(discord_messages()))
def test_every_discord_message_keeps_discords_embed_limits(name: str) -> None:
    # GIVEN an event (every seed update, the postmortem, a component change, a test ping, the largest ones)
    event = discord_messages()[name]
    # WHEN its Discord message is built
    document = message("discord", event)
    # THEN every documented embed limit holds, and no mention is allowed
    assert_discord_accepts(document)


def test_the_largest_update_still_has_its_text_and_link_when_its_components_are_long() -> None:
    # GIVEN an update as large as the API takes, 97 components of 255-character names among it
    embed = assert_discord_accepts(message("discord", largest_update()))
    # THEN the update's text is not crowded out by the component fields: it is there, cut, with the link
    description = embed["description"]
    assert description.startswith("服服服")
    assert "…\n[Read the full update](https://status.example.com/incidents/" in description


def test_a_discord_embed_shows_the_incident_its_status_components_time_and_link() -> None:
    # WHEN the seed's first update is sent to Discord
    embed = message("discord", every_event()["incident.created #0 (Investigating)"])["embeds"][0]
    # THEN its embed shows the page, the incident, the status and the components, the time in the page's zone
    assert embed["author"] == {"name": "Bottlenose"} and embed["title"] == "Mail platform outage"
    assert embed["description"] == "We have seen a major outrage with our email service platform"
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [
        ("Status", "Investigating"), ("SMTP Email", "Major Outage"), ("Transactional Emails", "Major Outage"),
        ("Email Marketing", "Major Outage"), ("POP3/IMAP Email", "Major Outage")]
    assert embed["footer"] == {"text": "Aug 30, 2018 - 18:18 EDT"}
    assert "timestamp" not in embed  # Discord would show the time a second time, in the reader's zone
    assert embed["url"].startswith("https://status.example.com/incidents/")
