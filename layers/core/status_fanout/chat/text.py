"""User text made inert for each chat app, and cut to fit its limits.

Nothing an incident's author writes may link or mention in a chat, nor
format where the app has an escape for it:
each app's markup is escaped (Slack mrkdwn's `&`, `<`, `>`; Discord's and
Teams' markdown by backslash, as CommonMark escapes any ASCII punctuation;
the HTML subset of Google Chat's cards by entity), and the bare broadcast
words (`@everyone`, `@here`, `@channel`, `@all`) get an invisible word
joiner after the `@`, so no app's mention parser sees them even where the
body's own settings (Discord's `allowed_mentions`) would already disarm them.
Slack's mrkdwn and Google Chat's message text have no escape for their
emphasis marks (`*bold*`, `_italic_`, `~strike~`, backticks), so those still
emphasise there; they cannot link or mention.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

ELLIPSIS = "…"
WORD_JOINER = "\u2060"
_BROADCAST = re.compile(r"@(?=(everyone|here|channel|all)\b)", re.IGNORECASE)
# Markup characters anywhere in a line, and those that mean something only
# where a line starts (headings, quotes, lists, a numbered list's dot). A
# backslash escapes any of them in CommonMark and in Discord's parser; the
# rest of the punctuation is left alone so the raw JSON stays readable.
_INLINE_MARKS = ("\\", "`", "*", "_", "~", "|", "<", "[", "]")
_LINE_START = re.compile(r"^([ \t]*)([#>+\-]|\d+(?=[.)]))", re.MULTILINE)
# A cut looks this far back for a space; a longer word is cut where it stands.
WORD_SEARCH = 40


def disarm_mentions(text: str) -> str:
    return _BROADCAST.sub("@" + WORD_JOINER, text) if "@" in text else text


def slack(text: str) -> str:
    """Slack mrkdwn: the three characters Slack asks to escape, so `<!channel>`,
    `<@U123>` and `<url|text>` show as typed."""
    return disarm_mentions(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def markdown(text: str) -> str:
    """Discord and Teams markdown: each markup character backslash-escaped
    (a numbered list's number too), so `<@123>`, `[x](y)`, `**` show as typed."""
    # Chained str.replace, the backslash first: ~6x faster than a regex calling
    # back per character on markup-dense text (bench/chat_bodies.py).
    escaped = text
    for mark in _INLINE_MARKS:
        if mark in escaped:
            escaped = escaped.replace(mark, "\\" + mark)
    return disarm_mentions(_LINE_START.sub(_escape_line_start, escaped))


def _escape_line_start(match: re.Match[str]) -> str:
    indent, mark = match.group(1), match.group(2)
    return indent + (mark + "\\" if mark[0].isdigit() else "\\" + mark)  # "1." -> "1\.", "#" -> "\#"


def card_html(text: str) -> str:
    """Google Chat card text: its HTML subset escaped, line breaks kept."""
    return disarm_mentions(html.escape(text, quote=False)).replace("\n", "<br>")


def chat_text(text: str) -> str:
    """Google Chat message text: `<users/all>` and `<url|text>` broken by a word joiner."""
    return disarm_mentions(text.replace("<", "<" + WORD_JOINER))


def plain(text: str) -> str:
    """Text an app shows as typed (Slack's plain_text objects): mentions still disarmed."""
    return disarm_mentions(text)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending at a word with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    keep = text[: max(0, limit - len(ELLIPSIS))]
    space = max(keep.rfind(" "), keep.rfind("\n"))
    if space >= max(1, len(keep) - WORD_SEARCH):
        keep = keep[:space]
    return keep.rstrip() + ELLIPSIS


def fit(text: str, escape: Callable[[str], str], limit: int, more: str = "") -> str:
    """`text` escaped, at most `limit` characters once escaped; when it must be
    cut, it ends at a word with "…" followed by `more` (the link to the rest)."""
    if len(text) <= limit:  # escaping only lengthens: a longer text cannot fit whole
        escaped = escape(text)
        if len(escaped) <= limit:
            return escaped
    budget = limit - len(more)
    size = budget
    while size > 0:
        escaped = escape(cut(text, size))
        if len(escaped) <= budget:
            return escaped + more
        # Escaping only lengthens: shrink in proportion to the overflow.
        size = min(size - 1, size * budget // len(escaped))
    return more[:limit]
