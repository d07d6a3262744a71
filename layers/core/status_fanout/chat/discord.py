"""Discord: one embed for an incoming webhook, with `allowed_mentions`
empty so no text in it can ping anyone, whatever it says.

Limits (Discord's embed reference): title ≤ 256, description ≤ 4,096,
≤ 25 fields (name ≤ 256, value ≤ 1,024), footer ≤ 2,048, author ≤ 256,
≤ 10 embeds, and ≤ 6,000 characters over all of them.
"""

from __future__ import annotations

from typing import Any

from status_fanout.chat import text
from status_fanout.chat.message import WINDOW_LABEL, ChatMessage

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
TOTAL_MAX = 6000
# Of those 6,000, what the component fields never take from the update's text.
DESCRIPTION_RESERVE = 1000


def body(message: ChatMessage) -> dict[str, Any]:
    status_field: dict[str, Any] = {"name": "Status",
                                    "value": text.fit(message.label or "—", text.markdown, FIELD_VALUE_MAX),
                                    "inline": True}
    fields: list[dict[str, Any]] = [status_field]
    if message.window:  # a maintenance's window, on a line of its own
        fields.append({"name": WINDOW_LABEL, "value": text.fit(message.window, text.markdown, FIELD_VALUE_MAX),
                       "inline": False})
    title = text.fit(message.title, text.markdown, TITLE_MAX)
    author = text.cut(text.plain(message.page_name), AUTHOR_MAX)
    footer = text.cut(message.when, FOOTER_MAX)
    # 24 fields of long names could take all 6,000 characters (Discord then
    # refuses the message): the components shown are those that fit.
    room = (TOTAL_MAX - DESCRIPTION_RESERVE - len(title) - len(author) - len(footer)
            - sum(len(f["name"]) + len(f["value"]) for f in fields))
    for name, status in message.components[: FIELDS_MAX - len(fields)]:
        field: dict[str, Any] = {"name": text.fit(name or "—", text.markdown, FIELD_NAME_MAX),
                                 "value": text.fit(status or "—", text.markdown, FIELD_VALUE_MAX), "inline": True}
        room -= len(field["name"]) + len(field["value"])
        if room < 0:
            break
        fields.append(field)
    embed: dict[str, Any] = {
        "title": title, "color": message.colour, "author": {"name": author}, "fields": fields,
        # The time in the page's zone, as every other rendering shows it; no
        # `timestamp` beside it, which Discord would show a second time.
        "footer": {"text": footer},
    }
    if message.link:
        embed["url"] = message.link
    # What the description may have of the 6,000 characters all of it shares.
    rest = TOTAL_MAX - len(title) - len(author) - len(footer) - sum(len(f["name"]) + len(f["value"]) for f in fields)
    if message.body.strip():
        more = f"\n[Read the full update]({message.link})" if message.link else ""
        embed["description"] = text.fit(message.body, text.markdown, min(DESCRIPTION_MAX, rest), more)
    return {"embeds": [embed], "allowed_mentions": {"parse": []}}
