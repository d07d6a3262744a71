"""Slack: every message as Slack's own SDK reads it (slack_sdk's Block Kit models
parse each block and check Slack's documented limits), plus what the SDK does
not check: the number of blocks, the fields' length, the `text` fallback."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from status_fanout.chat import formats
from status_fanout.delivery.events import EventSnapshot
from tests.unit.chat.events import every_event, largest_maintenance_update, largest_update, message, update_with, words

BLOCKS_MAX = 50
FIELD_MAX = 2000


def slack_messages() -> dict[str, EventSnapshot]:
    return {**every_event(), "largest update": largest_update(), "largest update of <": largest_update("<"),
            "20,000 characters of words": update_with(body=words()),
            "largest maintenance update": largest_maintenance_update()}


def assert_slack_accepts(document: dict[str, Any]) -> None:
    blocks = document["blocks"]
    assert 0 < len(blocks) <= BLOCKS_MAX
    for block in blocks:
        parsed = Block.parse(block)
        # Block.parse answers None for a type it does not know (checked below),
        # and only the generic Block for one without a model of its own.
        assert parsed is not None and type(parsed) is not Block, block
        assert parsed.type == block["type"]
        parsed.validate_json()  # raises SlackObjectFormationError past any of Slack's limits
        # Nothing the SDK's model does not know was dropped on the way: Slack refuses unknown fields.
        assert parsed.to_dict() == block
        for field in block.get("fields", []):
            assert len(field["text"]) <= FIELD_MAX
    assert isinstance(document["text"], str) and document["text"].strip()


def test_slacks_sdk_returns_nothing_for_a_block_type_it_does_not_know() -> None:
    # The check above relies on this: an unknown block is not silently parsed as a generic Block.
    assert Block.parse({"type": "no_such_block", "text": "x"}) is None


@pytest.mark.parametrize("name", list(slack_messages()))
def test_every_slack_message_is_block_kit_slacks_sdk_accepts(name: str) -> None:
    # GIVEN an event (every seed update, the postmortem, a component change, a test ping, the largest update)
    event = slack_messages()[name]
    # WHEN its Slack message is built
    document = message("slack", event)
    # THEN Slack's SDK parses and validates every block, within 50 blocks, with a text fallback
    assert_slack_accepts(document)
    # AND no link preview is unfurled under every update
    assert document["unfurl_links"] is False and document["unfurl_media"] is False


def test_a_slack_message_shows_the_incident_its_status_components_time_and_link() -> None:
    # WHEN the seed's first update is sent to Slack
    document = formats.body("slack", every_event()["incident.created #0 (Investigating)"])
    header, context, text, components, actions = document["blocks"]
    # THEN its header is the incident with the impact's marker (red: critical), then status, page and local time
    assert header["text"]["text"] == "🔴 Mail platform outage"
    assert context["elements"][0]["text"] == "*Investigating* · Bottlenose · Aug 30, 2018 - 18:18 EDT"
    assert text["text"]["text"] == "We have seen a major outrage with our email service platform"
    assert [f["text"] for f in components["fields"]] == [
        "SMTP Email\nMajor Outage", "Transactional Emails\nMajor Outage", "Email Marketing\nMajor Outage",
        "POP3/IMAP Email\nMajor Outage"]
    button = actions["elements"][0]
    assert button["text"]["text"] == "View incident"
    assert button["url"].startswith("https://status.example.com/incidents/")
    assert document["text"] == "Bottlenose: Mail platform outage — Investigating"


def test_more_components_than_slack_shows_are_counted() -> None:
    # GIVEN an update that changes 14 components (a section shows at most 10 fields)
    event = update_with(components=[f"Service {n}" for n in range(14)])
    # WHEN it is sent to Slack
    document = message("slack", event)
    # THEN ten are shown and the other four counted, and Slack still accepts the message
    fields = next(b["fields"] for b in document["blocks"] if "fields" in b)
    assert len(fields) == 10
    assert any(e["text"] == "and 4 more components" for b in document["blocks"] if b["type"] == "context"
               for e in b["elements"])
    assert_slack_accepts(document)
