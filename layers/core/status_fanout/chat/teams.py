"""Microsoft Teams: an Adaptive Card 1.5 in the message a Workflows
("Post to a channel when a webhook request is received") webhook takes.

The card is coloured by impact (a container's style); its TextBlocks are
markdown, escaped. Teams refuses a message over 28 KB, so the update's
text is cut until the whole message fits (and then, for very many long
component names, those names).
"""

from __future__ import annotations

import json
from typing import Any

from status_fanout.chat import text
from status_fanout.chat.message import WINDOW_LABEL, ChatMessage

CARD_VERSION = "1.5"
MESSAGE_MAX_BYTES = 28 * 1024
# Headroom for what Teams adds around the card it receives.
MESSAGE_BUDGET = MESSAGE_MAX_BYTES - 1024
BODY_MAX = 12_000
BODY_MIN = 100
FACTS_MAX = 50
FACT_MAX = 200
FACT_MIN = 20
STYLES = {"resolved": "good", "none": "emphasis", "minor": "warning", "major": "warning", "critical": "attention",
          "maintenance": "accent"}


def paragraphs(raw: str) -> str:
    """Markdown-escaped, each line break doubled: a TextBlock joins single
    line breaks into one paragraph, so an update's lines would run together."""
    return text.markdown(raw).replace("\n", "\n\n")


def body(message: ChatMessage) -> dict[str, Any]:
    body_limit, fact_limit = BODY_MAX, FACT_MAX
    while True:
        document = _message(message, body_limit, fact_limit)
        size = len(json.dumps(document, ensure_ascii=False).encode())
        if size <= MESSAGE_BUDGET or fact_limit <= FACT_MIN:
            return document
        if body_limit > BODY_MIN:
            body_limit = max(BODY_MIN, body_limit * MESSAGE_BUDGET // size - 100)
        else:
            # 50 facts of long multi-byte names alone outweigh 28 KB: once the
            # update's text is as short as it gets, the names give way too.
            fact_limit = max(FACT_MIN, fact_limit * MESSAGE_BUDGET // size - 10)


def _message(message: ChatMessage, body_limit: int, fact_limit: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": text.markdown(message.page_name), "size": "Small", "isSubtle": True,
         "wrap": True},
        {"type": "TextBlock", "text": text.fit(message.title, text.markdown, 500), "size": "Large",
         "weight": "Bolder", "wrap": True},
        {"type": "TextBlock", "text": f"**{text.markdown(message.label)}** · {message.when}",
         "wrap": True, "spacing": "Small"},
    ]
    if message.window:
        items.append({"type": "TextBlock", "text": f"**{WINDOW_LABEL}:** {text.markdown(message.window)}",
                      "wrap": True, "spacing": "Small"})
    card_body: list[dict[str, Any]] = [
        {"type": "Container", "style": STYLES[message.severity], "bleed": True, "items": items}]
    if message.body.strip():
        more = f"\n\n[Read the full update]({message.link})" if message.link else ""
        card_body.append({"type": "TextBlock", "text": text.fit(message.body, paragraphs, body_limit, more),
                          "wrap": True})
    if message.components:
        card_body.append({"type": "FactSet", "facts": [
            {"title": text.fit(name, text.markdown, fact_limit), "value": text.fit(status, text.markdown, fact_limit)}
            for name, status in message.components[:FACTS_MAX]]})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": text.cut(text.plain(message.summary), 500),
        "body": card_body,
    }
    if message.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": message.link_text, "url": message.link}]
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
