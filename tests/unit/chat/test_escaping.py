"""Whatever an incident's author writes arrives inert in every chat app: no
mention pings anyone, no markup formats, no link syntax links, no HTML runs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.chat.events import FORMATS, HOSTILE, message, strings, update_with

WORD_JOINER = "\u2060"
BROADCAST = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
UNESCAPED_MARKDOWN = re.compile(r"(?<!\\)[<\[*]")


def hostile_body(body_format: str) -> dict[str, Any]:
    return message(body_format, update_with(body=HOSTILE))


def hostile_name(body_format: str) -> dict[str, Any]:
    return message(body_format, update_with(name=HOSTILE))


def slack_mrkdwn(document: dict[str, Any]) -> list[str]:
    """Every text Slack reads as mrkdwn: mrkdwn objects anywhere, and the `text` fallback."""
    found = [document["text"]]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn":
                found.append(value["text"])
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(document["blocks"])
    return found


@pytest.mark.parametrize("body_format", FORMATS)
@pytest.mark.parametrize("where", ["update", "incident name", "update cut to fit"])
def test_no_broadcast_mention_survives_in_any_format(body_format: str, where: str) -> None:
    # GIVEN an update (or an incident named) "@everyone @here <!channel> ...", or an update
    # repeating it far past every app's limit, so it is cut wherever a mention may fall
    if where == "update cut to fit":
        document = message(body_format, update_with(body=" ".join([HOSTILE] * 150)))
    else:
        document = hostile_body(body_format) if where == "update" else hostile_name(body_format)
    texts = strings(document)
    # THEN no text anywhere in the message holds @everyone or @here as a word
    assert [t for t in texts if BROADCAST.search(t)] == []
    # AND each is still shown, with a word joiner after its "@"
    assert any(f"@{WORD_JOINER}everyone @{WORD_JOINER}here" in t for t in texts)


def test_slack_shows_the_update_as_typed_with_no_markup_in_its_mrkdwn() -> None:
    # WHEN the hostile update is sent to Slack
    document = hostile_body("slack")
    # THEN no mrkdwn text has a raw < or > (Slack's mentions, links and commands all need them)
    for text in slack_mrkdwn(document):
        assert "<" not in text and ">" not in text, text
    section = next(b["text"]["text"] for b in document["blocks"] if b["type"] == "section" and "text" in b)
    assert "&lt;!channel&gt;" in section and "&lt;@U123&gt;" in section and "&lt;script&gt;" in section


def test_slack_shows_a_hostile_incident_name_as_plain_text() -> None:
    # WHEN an incident with the hostile name is sent to Slack
    document = hostile_name("slack")
    header = document["blocks"][0]
    # THEN the header is plain_text (Slack parses nothing in it), mentions disarmed
    assert header["text"]["type"] == "plain_text"
    assert "<!channel>" in header["text"]["text"]
    # AND the fallback text that carries the name is escaped mrkdwn
    assert "&lt;!channel&gt;" in document["text"]
    for text in slack_mrkdwn(document):
        assert "<" not in text and ">" not in text, text


def markdown_texts(body_format: str, document: dict[str, Any]) -> dict[str, str]:
    """The incident's title and the update's text, where Discord and Teams read markdown."""
    if body_format == "discord":
        embed = document["embeds"][0]
        return {"title": embed["title"], "text": embed.get("description", "")}
    card = document["attachments"][0]["content"]
    return {"title": card["body"][0]["items"][1]["text"], "text": card["body"][1]["text"]}


@pytest.mark.parametrize("body_format", ["discord", "teams"])
@pytest.mark.parametrize(("where", "field"), [("update", "text"), ("incident name", "title")])
def test_discord_and_teams_escape_every_markup_character(body_format: str, where: str, field: str) -> None:
    # WHEN the hostile text is sent as the update (or the incident's name)
    document = hostile_body(body_format) if where == "update" else hostile_name(body_format)
    text = markdown_texts(body_format, document)[field]
    # THEN every <, [ and * in it is backslash-escaped, so no mention, link or bold survives
    assert UNESCAPED_MARKDOWN.findall(text) == [], text
    assert "[click](" not in text
    assert r"\[click\](https://evil.example)" in text
    assert r"\<@U123>" in text and r"\<at>Bob\</at>" in text and r"\*\*bold\*\*" in text


def test_google_chat_cards_show_html_as_text() -> None:
    # WHEN the hostile update is sent to Google Chat
    document = hostile_body("google_chat")
    card = document["cardsV2"][0]["card"]
    paragraph = next(w["textParagraph"]["text"] for s in card["sections"] for w in s["widgets"]
                     if "textParagraph" in w)
    # THEN the card's HTML subset shows it as typed: entities, never a raw tag
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in paragraph
    assert "<script" not in paragraph and "<at>" not in paragraph and "<users/all>" not in paragraph
    assert "<script" not in "".join(strings(card))


def test_google_chat_breaks_every_mention_and_link_in_its_message_text() -> None:
    # WHEN an incident with the hostile name is sent to Google Chat
    document = hostile_name("google_chat")
    # THEN its message text (the notification line) has a word joiner after every "<",
    # so <users/all> and <url|text> are not Chat's syntax any more
    text = document["text"]
    assert "<users/all>" not in text and f"<{WORD_JOINER}users/all>" in text
    assert re.findall(f"<(?!{WORD_JOINER})", text) == []
    # AND the card header, which Chat shows as plain text, has the name as typed, mentions disarmed
    header = document["cardsV2"][0]["card"]["header"]["title"]
    assert header.startswith(f"@{WORD_JOINER}everyone @{WORD_JOINER}here <!channel>")
