"""Slack: a Block Kit message for an incoming webhook, with the `text`
fallback Slack shows in notifications and where blocks cannot be shown.

Limits (Slack's Block Kit reference): ≤ 50 blocks, a header's text ≤ 150
characters, a section's text ≤ 3,000, ≤ 10 fields of ≤ 2,000 each, a context
of ≤ 10 elements, a button's text ≤ 75 and its URL ≤ 3,000. Block Kit
colours nothing, so the header starts with the impact's coloured marker.
"""

from __future__ import annotations

from typing import Any

from status_fanout.chat import text
from status_fanout.chat.message import WINDOW_LABEL, ChatMessage

HEADER_MAX = 150
SECTION_MAX = 3000
FIELDS_MAX = 10
FIELD_MAX = 2000
BUTTON_TEXT_MAX = 75
URL_MAX = 3000


def body(message: ChatMessage) -> dict[str, Any]:
    link = message.link[:URL_MAX]
    more = f" <{link}|Read the full update>"
    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "text": text.cut(text.plain(f"{message.marker} {message.title}"), HEADER_MAX),
                  "emoji": True}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": text.fit(
            f"*{message.label}* · {message.page_name} · {message.when}", text.slack, SECTION_MAX)}]},
    ]
    if message.window:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text.fit(
            f"*{WINDOW_LABEL}:* {message.window}", text.slack, SECTION_MAX)}})
    if message.body.strip():
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                    "text": text.fit(message.body, text.slack, SECTION_MAX, more)}})
    if message.components:
        shown = message.components[:FIELDS_MAX]
        blocks.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": text.fit(f"{name}\n{status}", text.slack, FIELD_MAX)}
            for name, status in shown]})
        if len(message.components) > FIELDS_MAX:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"and {len(message.components) - FIELDS_MAX} more components"}]})
    if link:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": message.link_text[:BUTTON_TEXT_MAX]},
            "url": link, "action_id": "open"}]})
    return {
        "text": text.fit(message.summary, text.slack, SECTION_MAX),
        "blocks": blocks,
        # The link is the incident page: no preview of it under every update.
        "unfurl_links": False,
        "unfurl_media": False,
    }
