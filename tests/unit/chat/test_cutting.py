"""A long update is cut to fit each app's limit, at a word, with "…" and then
the link to the whole update: the reader sees where it stops and how to read on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from status_fanout.delivery.events import EventSnapshot
from status_fanout.incidents.models import MAX_BODY
from tests.unit.chat.events import FORMATS, message, update_with, wire_size, words

# Per format: where the update's text is, how long it may be, and how a "<" is escaped there.
SECTION_MAX, DESCRIPTION_MAX, DISCORD_TOTAL_MAX = 3000, 4096, 6000
TEAMS_MAX_BYTES, GOOGLE_CHAT_BODY_MAX = 28 * 1024, 4000
ESCAPED_LT = {"slack": "&lt;", "discord": "\\<", "teams": "\\<", "google_chat": "&lt;"}


def update_text(body_format: str, document: dict[str, Any]) -> str:
    text: str
    if body_format == "slack":
        text = next(b["text"]["text"] for b in document["blocks"] if b["type"] == "section" and "text" in b)
    elif body_format == "discord":
        text = document["embeds"][0]["description"]
    elif body_format == "teams":
        text = document["attachments"][0]["content"]["body"][1]["text"]
    else:
        text = next(w["textParagraph"]["text"] for s in document["cardsV2"][0]["card"]["sections"]
                    for w in s["widgets"] if "textParagraph" in w)
    return text


def read_more(body_format: str, link: str) -> str:
    """What follows the "…": each app's own link syntax, to the incident page."""
    return {"slack": f" <{link}|Read the full update>", "discord": f"\n[Read the full update]({link})",
            "teams": f"\n\n[Read the full update]({link})",
            "google_chat": f' <a href="{link}">Read the full update</a>'}[body_format]


def assert_within_limits(body_format: str, document: dict[str, Any]) -> None:
    text = update_text(body_format, document)
    if body_format == "slack":
        assert len(text) <= SECTION_MAX
    elif body_format == "discord":
        embed = document["embeds"][0]
        assert len(text) <= DESCRIPTION_MAX
        total = (len(embed["title"]) + len(text) + len(embed["footer"]["text"]) + len(embed["author"]["name"])
                 + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"]))
        assert total <= DISCORD_TOTAL_MAX
    elif body_format == "teams":
        size = wire_size(document)
        assert size <= TEAMS_MAX_BYTES
    else:
        assert len(text) <= GOOGLE_CHAT_BODY_MAX


def cut_text(body_format: str, event: EventSnapshot) -> str:
    """The update's text as the app shows it, up to the "…"; checked to end with "…" and the link."""
    document = message(body_format, event)
    assert_within_limits(body_format, document)
    text = update_text(body_format, document)
    suffix = "…" + read_more(body_format, (event.incident or {})["shortlink"])
    assert text.endswith(suffix), text[-200:]
    return text[: -len(suffix)]


@pytest.mark.parametrize("body_format", FORMATS)
def test_a_20000_character_update_is_cut_at_a_word_with_the_link_after_it(body_format: str) -> None:
    # GIVEN an update of 20,000 characters of ordinary words
    original = words()
    # WHEN it is sent to the app
    kept = cut_text(body_format, update_with(body=original))
    # THEN what is shown is the update's beginning, as typed, up to the end of a whole word
    assert len(kept) > 1000, "cut far shorter than the limit"
    assert original.startswith(kept)
    assert kept[-1] != " " and original[len(kept)] == " "


@pytest.mark.parametrize("body_format", FORMATS)
def test_an_update_of_only_markup_characters_still_fits_once_escaped(body_format: str) -> None:
    # GIVEN 20,000 characters of "<", each escaped to several characters (the worst case)
    kept = cut_text(body_format, update_with(body="<" * MAX_BODY))
    # THEN the app's limit holds once escaped, and only whole escapes are shown: none is cut in half
    escaped = ESCAPED_LT[body_format]
    assert kept and kept == escaped * (len(kept) // len(escaped))


@pytest.mark.parametrize("body_format", FORMATS)
def test_a_cut_never_splits_a_line_break_or_leaves_markup_open(body_format: str) -> None:
    # GIVEN a long update in paragraphs, each line starting with markup a cut must not break
    original = "\n".join(f"- item {n}: " + words(60) for n in range(600))
    kept = cut_text(body_format, update_with(body=original))
    # THEN what is shown ends at a word, with no dangling escape, entity or line-break tag
    assert not kept.endswith(("\\", "&", "<br", "\n", " "))
    assert not re.search(r"&[a-z]*$", kept)
