"""Google Chat: a `cardsV2` card for an incoming webhook, with `text`, the
line Chat shows in notifications.

Card text is Chat's HTML subset, escaped; the header and the message
text are plain. Chat takes a message of ≤ 32,000 bytes and ≤ 4,096
characters of text; the update's text is cut at 4,000, and the components
listed are those that fit in the 32,000 bytes.
"""

from __future__ import annotations

import json
from typing import Any

from status_fanout.chat import text
from status_fanout.chat.message import WINDOW_LABEL, ChatMessage

TEXT_MAX = 4096
BODY_MAX = 4000
HEADER_MAX = 200
WIDGETS_MAX = 50
MESSAGE_MAX_BYTES = 32_000


def body(message: ChatMessage) -> dict[str, Any]:
    widgets: list[dict[str, Any]] = [{"decoratedText": {
        "topLabel": "Status", "text": f"{message.marker} <b>{text.card_html(message.label)}</b>",
        "bottomLabel": message.when}}]
    if message.window:
        widgets.append({"decoratedText": {"topLabel": WINDOW_LABEL, "text": text.card_html(message.window)}})
    if message.body.strip():
        more = f' <a href="{text.card_html(message.link)}">Read the full update</a>' if message.link else ""
        widgets.append({"textParagraph": {"text": text.fit(message.body, text.card_html, BODY_MAX, more)}})
    sections: list[dict[str, Any]] = [{"widgets": widgets}]
    shown: list[dict[str, Any]] = []
    components = {"header": "Components", "collapsible": False, "uncollapsibleWidgetsCount": 0, "widgets": shown}
    if message.components:
        sections.append(components)
    if message.link:
        sections.append({"widgets": [{"buttonList": {"buttons": [
            {"text": message.link_text, "onClick": {"openLink": {"url": message.link}}}]}}]})
    document = {
        "text": text.cut(text.chat_text(message.summary), TEXT_MAX),
        "cardsV2": [{"cardId": "status-update", "card": {
            "header": {"title": text.cut(text.plain(message.title), HEADER_MAX),
                       "subtitle": text.cut(text.plain(message.page_name), HEADER_MAX)},
            "sections": sections}}],
    }
    # 50 components of long multi-byte names alone outweigh the 32,000 bytes
    # Chat takes: the components shown are those that fit beside the rest.
    room = MESSAGE_MAX_BYTES - _size(document)
    for name, status in message.components[:WIDGETS_MAX]:
        widget = {"decoratedText": {"topLabel": text.card_html(name), "text": text.card_html(status)}}
        room -= _size(widget) + 1
        if room < 0:
            break
        shown.append(widget)
    components.update(collapsible=len(shown) > 5, uncollapsibleWidgetsCount=min(5, len(shown)))
    if message.components and not shown:
        sections.remove(components)  # Chat refuses a section without widgets
    return document


def _size(document: Any) -> int:
    return len(json.dumps(document, ensure_ascii=False).encode())
