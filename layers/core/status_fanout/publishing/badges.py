"""Status badges: `/badge.svg` and `/badge.json` for the page,
`/components/{id}/badge.svg` and `.json` for each component.

The SVG is a flat two-part badge in the manner of shields.io's "flat" style:
the label on grey #555, the message on the status colour (Statuspage's
colours). The JSON is shields.io's endpoint schema, so
`https://img.shields.io/endpoint?url=…/badge.json` draws the same badge.

Text is measured with a table of Verdana's advance widths (the font shields.io
measures with), at 11px; a character outside ASCII counts as wider than any
ASCII glyph, so text never overflows its part, and each `<text>` carries its
measured `textLength`, so a fallback font is fitted to the same box.

Text colour: white on the grey label (7.5:1); on the status colours white
fails WCAG AA (2.1:1 on the green), so the message is dark #111 (4.9:1 on the
red, more on the others). `text_colour` picks whichever of the two contrasts
more, and the tests check every pair reaches 4.5:1. There is no gloss
gradient (shields' flat style has one), so the contrast computed from the two
colours is the contrast shown.

Pure: no I/O, no Jinja2.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from status_fanout.incidents.models import Component
from status_fanout.publishing import public_json
from status_fanout.publishing.presentation import COMPONENT_STATUS_LABELS

SVG_TYPE = "image/svg+xml"
PAGE_BADGE = "badge"  # badge.svg, badge.json
LABEL_COLOUR = "#555555"
# Statuspage's colours, by page indicator and by component status.
INDICATOR_COLOURS = {
    "none": "#2fcc66",
    "minor": "#f1c40f",
    "major": "#e67e22",
    "critical": "#e74c3c",
    "maintenance": "#3498db",
}
STATUS_COLOURS = {
    "operational": "#2fcc66",
    "degraded_performance": "#f1c40f",
    "partial_outage": "#e67e22",
    "major_outage": "#e74c3c",
    "under_maintenance": "#3498db",
}
UNKNOWN_COLOUR = "#9f9f9f"  # shields' lightgrey
LIGHT_TEXT, DARK_TEXT = "#ffffff", "#111111"

FONT_SIZE = 11
PADDING = 5  # each side of a part's text, as shields'
HEIGHT = 20
# Verdana's advance widths in thousandths of an em, for " " (0x20) to "~" (0x7E).
_ASCII_WIDTHS = (
    351, 393, 458, 818, 635, 1076, 726, 268, 454, 454, 635, 818, 363, 454, 363, 454,  # space to /
    635, 635, 635, 635, 635, 635, 635, 635, 635, 635, 454, 454, 818, 818, 818, 545,  # 0 to ?
    1000, 683, 685, 698, 770, 632, 574, 775, 751, 420, 454, 692, 556, 842, 748, 787,  # @ to O
    603, 787, 695, 683, 616, 731, 683, 988, 685, 615, 685, 454, 454, 454, 818, 635,  # P to _
    635, 600, 623, 520, 623, 595, 351, 623, 632, 274, 344, 591, 274, 972, 632, 606,  # ` to o
    623, 623, 426, 520, 394, 632, 591, 818, 591, 591, 525, 634, 454, 634, 818,  # p to ~
)
# Any other character: wider than every ASCII glyph (the widest, "%", is 1076)
# and than a full-width CJK glyph or an emoji (about 1.25 em); too wide only
# pads the part.
_OTHER_WIDTH = 1300
# Characters XML 1.0 cannot carry, not even as references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """Text as a badge shows it: no character XML cannot hold, whitespace runs
    as one space (as SVG renders them), no space at either end."""
    return " ".join(_NOT_XML.sub("", text).split())


def char_width(char: str) -> float:
    """A character's advance at FONT_SIZE px."""
    code = ord(char)
    units = _ASCII_WIDTHS[code - 0x20] if 0x20 <= code <= 0x7E else _OTHER_WIDTH
    return units * FONT_SIZE / 1000


def text_width(text: str) -> float:
    return sum(char_width(c) for c in text)


def part_width(text: str) -> int:
    """A part's width in whole pixels: its text, rounded up, and the padding."""
    return math.ceil(text_width(text)) + 2 * PADDING


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a #rrggbb colour."""
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_colour(background: str) -> str:
    """White or dark text, whichever contrasts more with the background."""
    return max((LIGHT_TEXT, DARK_TEXT), key=lambda text: contrast(text, background))


def _text(x: float, width: int, content: str, fill: str) -> str:
    # A 1px shadow under the text, dark under white text and light under dark, as shields draws it.
    shadow = "#010101" if fill == LIGHT_TEXT else "#cccccc"
    length = width - 2 * PADDING
    return (f'<text aria-hidden="true" x="{x:g}" y="15" fill="{shadow}" fill-opacity=".3" '
            f'textLength="{length}">{content}</text>'
            f'<text x="{x:g}" y="14" fill="{fill}" textLength="{length}">{content}</text>')


def svg(label: str, message: str, colour: str) -> bytes:
    """The flat two-part badge: `label` on grey, `message` on `colour` (#rrggbb)."""
    label, message = clean(label), clean(message)
    left, right = part_width(label), part_width(message)
    total = left + right
    title = html.escape(f"{label}: {message}")
    label_text, message_text = html.escape(label), html.escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="{HEIGHT}" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
        f'<clipPath id="r"><rect width="{total}" height="{HEIGHT}" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="{HEIGHT}" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{left}" width="{right}" height="{HEIGHT}" fill="{colour}"/></g>'
        f'<g text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        f'text-rendering="geometricPrecision" font-size="{FONT_SIZE}">'
        f'{_text(left / 2, left, label_text, text_colour(LABEL_COLOUR))}'
        f'{_text(left + right / 2, right, message_text, text_colour(colour))}'
        f'</g></svg>'
    ).encode()


def endpoint(label: str, message: str, colour: str) -> dict[str, Any]:
    """shields.io's endpoint schema: the colour as hex without "#", which shields accepts."""
    return {"schemaVersion": 1, "label": clean(label), "message": clean(message), "color": colour.lstrip("#")}


def page_badge(page_name: str, status: Mapping[str, str]) -> tuple[str, str, str]:
    """(label, message, colour) of the page's badge, from `public_json.status_object`."""
    label = clean(page_name) or "status"
    return label, status["description"], INDICATOR_COLOURS.get(status["indicator"], UNKNOWN_COLOUR)


def component_badge(component: Component) -> tuple[str, str, str]:
    label = clean(component.name) or component.id
    message = COMPONENT_STATUS_LABELS.get(component.status, component.status)
    return label, message, STATUS_COLOURS.get(component.status, UNKNOWN_COLOUR)


def render(page_name: str, status: Mapping[str, str], components: Iterable[Component]
           ) -> dict[str, bytes]:
    """The page's badges and those of `components`: bucket key -> body; a key
    ending ".svg" is SVG_TYPE, ".json" JSON."""
    badges = {PAGE_BADGE: page_badge(page_name, status)}
    badges.update((f"components/{c.id}/badge", component_badge(c)) for c in components)
    rendered: dict[str, bytes] = {}
    for path, (label, message, colour) in badges.items():
        rendered[f"{path}.svg"] = svg(label, message, colour)
        rendered[f"{path}.json"] = public_json.dumps(endpoint(label, message, colour))
    return rendered
