#!/usr/bin/env python3
"""Pictures of each chat app's message for the seed incident (docs/chat.md).

    .venv/bin/python scripts/chat_previews.py                    # docs/images/chat-*.png, the "Identified" update
    .venv/bin/python scripts/chat_previews.py --update resolved --out /tmp/chat-previews
    .venv/bin/python scripts/chat_previews.py --update hostile --out /tmp/chat-previews   # markup and mentions
    .venv/bin/python scripts/chat_previews.py --json             # the bodies docs/chat.md quotes

A dev tool, never shipped in a Lambda. It builds the seed's events as the
planner snapshots them live (each update with the component statuses it left),
asks `status_fanout.chat.formats.body` for each app's JSON, lays that JSON out
as an HTML approximation of how the app shows it, and screenshots it with
headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM, driven by the dev
extra's Playwright; no browser download).

Teams' card is drawn by Microsoft's own renderer, the `adaptivecards` npm
package, with Teams' light host config from `adaptivecards-designer`; they are
installed once into a cache outside the repository ($CHAT_PREVIEWS_CACHE, by
default status-fanout-chat-previews under the system's temp folder). Without
npm (or with --no-npm) the card is approximated here like the other three.

Every string of a payload reaches the HTML escaped: Slack mrkdwn and Discord's
markdown are parsed into escaped text and the few tags they stand for, Google
Chat's HTML subset is re-emitted tag by allowed tag, plain fields are escaped.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.unit.* builds the seed's events

from status_fanout.chat import formats  # noqa: E402
from status_fanout.chat.message import MARKERS, ChatMessage, chat_message  # noqa: E402
from status_fanout.delivery.events import EventSnapshot  # noqa: E402
from status_fanout.delivery.planner import EventRef, Planner  # noqa: E402
from status_fanout.publishing import public_json  # noqa: E402
from status_fanout.publishing.feeds import zone  # noqa: E402
from tests.unit.email.test_messages import SETTINGS, component_event, live_seed  # noqa: E402
from tests.unit.publishing.test_feeds import SEED, seed_components  # noqa: E402

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--font-render-hinting=none"]
CACHE = Path(os.environ.get("CHAT_PREVIEWS_CACHE", Path(tempfile.gettempdir()) / "status-fanout-chat-previews"))
NPM_PACKAGES = ("adaptivecards@3.0.6", "markdown-it@14.1.0")
DESIGNER = "adaptivecards-designer@2.4.4"  # only its Teams host config is read
TEAMS_HOST_CONFIG = "package/lib/hostConfigs/microsoft-teams-light.json"
WIDTH = 640
FILES = {"slack": "chat-slack.png", "teams": "chat-teams.png", "discord": "chat-discord.png",
         "google_chat": "chat-google-chat.png"}
APP_NAME = "Bottlenose status"  # what the staff named the app or webhook; the apps show it as the sender
HOSTILE = ("Fixed in <@U024BE7LH> & <!channel>'s `deploy`; see [the docs](https://evil.example/x) "
           "or <https://evil.example|this>. @everyone @here *bold* _it_ ~strike~ **strong** <at>Ops</at>\n"
           "# not a heading\n1. not a list <script>alert(1)</script> &amp; <b>not bold</b>")
# The seed's markers, drawn as the apps' own emoji images would be (no emoji font needed).
EMOJI = {"🔴": "#dd2e44", "🟠": "#f4900c", "🟡": "#fdcb58", "🟢": "#78b159", "🔵": "#55acee", "⚪": "#e6e7e8"}
assert set(EMOJI) == set(MARKERS.values())


# --- the events ---------------------------------------------------------------------------------


def seed_event(status: str) -> EventSnapshot:
    """The seed's first update of this status as the planner snapshots it when it is posted:
    the components stand as that update and the earlier ones left them."""
    incident, updates = live_seed()
    components = seed_components()
    for update in updates:
        for change in update.affected_components or []:
            components[change.code] = components[change.code].model_copy(update={"status": change.new_status})
        if update.status == status:
            break
    else:
        raise SystemExit(f"the seed has no {status!r} update")
    unresolved = [] if update.status == "resolved" else [incident]
    status = public_json.status_object(components.values(), unresolved)
    planner = Planner(None, None, SETTINGS)  # type: ignore[arg-type]  # snapshots need no AWS
    event = planner._incident_event(EventRef("update", incident.id, update_seq=update.seq), incident, updates,
                                    components, status)
    assert event is not None
    # The incident's id is new on every run: the seed's own Statuspage id instead, so the pictures and
    # the JSON in the docs stay the same from one run to the next.
    seed_id = json.loads(SEED.read_text())["page"]["source_url"].rstrip("/").rsplit("/", 1)[-1]
    body = {**(event.incident or {}), "id": seed_id, "shortlink": f"{SETTINGS.page.url}/incidents/{seed_id}"}
    return event.model_copy(update={"incident": body, "incident_id": seed_id,
                                    "id": event.id.replace(incident.id, seed_id)})


def build_event(which: str) -> EventSnapshot:
    if which == "component":
        return component_event()
    if which == "hostile":
        event = seed_event("identified")
        incident = {**(event.incident or {}), "name": "Mail <b>platform</b> @here outage"}
        return event.model_copy(update={"incident": incident, "update": {**(event.update or {}), "body": HOSTILE}})
    return seed_event(which)


def trimmed(document: Any, keep: int = 2) -> Any:
    """A body for the docs: a list of more than `keep` items of one shape (the components) cut to `keep`."""
    if isinstance(document, dict):
        return {key: trimmed(value, keep) for key, value in document.items()}
    if isinstance(document, list):
        shapes = {tuple(item) if isinstance(item, dict) else None for item in document}
        items = document[:keep] if len(document) > keep and len(shapes) == 1 and None not in shapes else document
        return [trimmed(item, keep) for item in items]
    return document


def compact(document: Any, indent: str = "", lead: int = 0, width: int = 120) -> str:
    """JSON as the docs quote it: a value that fits on its line (`lead` characters already on it) stays whole."""
    flat = json.dumps(document, ensure_ascii=False)
    if len(indent) + lead + len(flat) <= width or not isinstance(document, dict | list) or not document:
        return flat
    inner = indent + "  "
    if isinstance(document, dict):
        items = [f"{inner}{json.dumps(key)}: {compact(value, inner, len(json.dumps(key)) + 2, width)}"
                 for key, value in document.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    return "[\n" + ",\n".join(inner + compact(item, inner, 0, width) for item in document) + f"\n{indent}]"


# --- text: each app's markup to escaped HTML -------------------------------------------------------


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def emoji(escaped: str) -> str:
    """The markers as coloured discs, the way the apps draw their own emoji images."""
    for char, colour in EMOJI.items():
        escaped = escaped.replace(char, f'<span class="emoji" style="background:{colour}"></span>')
    return escaped


def safe_href(url: str) -> str | None:
    return url if re.match(r"https?://", url, re.IGNORECASE) else None


_SLACK_ENTITY = re.compile(r"&(amp|lt|gt);")
_SLACK_ANGLE = re.compile(r"<([^<>|\n]+)(?:\|([^<>\n]*))?>")


def slack_unescape(text: str) -> str:
    return _SLACK_ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def slack_mrkdwn(text: str) -> str:
    """Slack mrkdwn as Slack shows it: `<url|label>` links, `<!channel>`/`<@U1>` mentions, *bold*,
    _italic_, ~strike~, `code`; everything else as typed (the three entities decoded)."""
    out, pos = [], 0
    for match in _SLACK_ANGLE.finditer(text):
        out.append(_slack_inline(text[pos:match.start()]))
        target, label = match.group(1), match.group(2)
        if target[0] in "!@#":
            out.append(f'<span class="mention">@{esc(slack_unescape(label or target[1:]))}</span>')
        elif href := safe_href(slack_unescape(target)):
            out.append(f'<a href="{esc(href)}">{_slack_inline(label or target)}</a>')
        else:
            out.append(_slack_inline(match.group(0)))
        pos = match.end()
    out.append(_slack_inline(text[pos:]))
    return emoji("".join(out))


def _slack_inline(text: str) -> str:
    shown = esc(slack_unescape(text))
    shown = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", shown)
    for mark, tag in (("*", "b"), ("_", "i"), ("~", "s")):
        m = re.escape(mark)
        shown = re.sub(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]+?)(?<=\S){m}(?![\w{m}])", rf"<{tag}>\1</{tag}>", shown)
    return shown.replace("\n", "<br>")


_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_MD_HELD = re.compile(r"\x00(\d+)\x01")


def markdown_html(text: str, soft_breaks: bool = False) -> str:
    """Discord's (and Teams') markdown as they show it: backslash escapes, [label](url) links,
    **bold**, *italic*/_italic_, ~~strike~~, `code`. A line break is kept (Discord), or is a
    space unless doubled (CommonMark, as Teams' TextBlocks read it)."""
    held: list[str] = []

    def hold(match: re.Match[str]) -> str:
        held.append(match.group(1))
        return f"\x00{len(held) - 1}\x01"

    shown = esc(_MD_ESCAPE.sub(hold, text))
    shown = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", shown)
    shown = re.sub(r"\[([^\]\n]*)\]\(([^)\s]+)\)", _md_link, shown)
    shown = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"<b>\1</b>", shown)
    shown = re.sub(r"~~(?=\S)(.+?)(?<=\S)~~", r"<s>\1</s>", shown)
    shown = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"<i>\1</i>", shown)
    shown = re.sub(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)", r"<i>\1</i>", shown)
    shown = _MD_HELD.sub(lambda m: esc(held[int(m.group(1))]), shown)
    if soft_breaks:
        return "".join(f"<p>{part.replace(chr(10), ' ')}</p>" for part in re.split(r"\n{2,}", shown))
    return shown.replace("\n", "<br>")


def _md_link(match: re.Match[str]) -> str:
    href = safe_href(html.unescape(match.group(2)))
    return f'<a href="{esc(href)}">{match.group(1)}</a>' if href else match.group(0)


class _ChatHtml(HTMLParser):
    """Google Chat cards' HTML subset, re-emitted: only its tags (and an http(s) href, a colour) survive."""

    TAGS: ClassVar[set[str]] = {"b", "i", "u", "s", "strike", "br", "a", "font"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "br":
            self.out.append("<br>")
        elif tag == "a" and (href := safe_href(values.get("href") or "")):
            self.out.append(f'<a href="{esc(href)}">')
        elif tag == "font" and re.fullmatch(r"#[0-9a-fA-F]{6}", values.get("color") or ""):
            self.out.append(f'<font color="{values["color"]}">')
        elif tag in self.TAGS - {"a", "font"}:
            self.out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.TAGS - {"br"}:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(esc(data))


def chat_html(text: str) -> str:
    parser = _ChatHtml()
    parser.feed(text)
    parser.close()
    return emoji("".join(parser.out))


def plain(text: Any) -> str:
    return emoji(esc(text)).replace("\n", "<br>")


# --- one page per app --------------------------------------------------------------------------------


def local_clock(message: ChatMessage) -> datetime:
    when = datetime.fromisoformat(message.timestamp.replace("Z", "+00:00"))
    return when.astimezone(zone(str(SETTINGS.page.time_zone)))


def page(css: str, body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><style>'
            f"html,body{{margin:0;padding:0}} #shot{{width:{WIDTH}px;box-sizing:border-box}}"
            f".emoji{{display:inline-block;width:1.05em;height:1.05em;border-radius:50%;vertical-align:-0.15em}}"
            f"{css}</style></head><body><div id=\"shot\">{body}</div></body></html>")


SLACK_CSS = """
#shot{background:#fff;padding:12px 20px 14px;font:15px/1.46668 Lato,'Helvetica Neue',Helvetica,Arial,sans-serif;
  color:#1d1c1d}
.row{display:flex;gap:8px}.avatar{flex:0 0 36px;height:36px;border-radius:6px;background:#2f6f9f;color:#fff;
  font-weight:900;display:flex;align-items:center;justify-content:center;font-size:18px}
.who{font-weight:900}.app{font-size:10px;font-weight:700;background:rgba(29,28,29,.13);color:rgba(29,28,29,.7);
  padding:1px 3px;border-radius:2px;margin:0 4px;vertical-align:1px}.time{font-size:12px;color:#616061}
.header{font-size:18px;font-weight:900;line-height:1.33;margin:6px 0 2px}
.context{font-size:12px;color:#616061;margin:2px 0 6px}.section{margin:4px 0}
.fields{display:grid;grid-template-columns:1fr 1fr;gap:8px 16px;margin:8px 0}
.actions{margin:10px 0 2px}.button{display:inline-block;border:1px solid rgba(29,28,29,.3);border-radius:4px;
  padding:3px 12px;font-size:13px;font-weight:700;color:#1d1c1d;text-decoration:none}
a{color:#1264a3;text-decoration:none}.mention{background:rgba(29,155,209,.1);color:#1264a3;border-radius:3px;
  padding:0 2px}code{font:12px Monaco,Menlo,monospace;color:#e01e5a;border:1px solid rgba(29,28,29,.13);
  background:rgba(29,28,29,.04);border-radius:3px;padding:1px 3px}
"""


def slack_page(document: dict[str, Any], message: ChatMessage) -> str:
    blocks = []
    for block in document["blocks"]:
        kind = block["type"]
        if kind == "header":
            blocks.append(f'<div class="header">{plain(block["text"]["text"])}</div>')
        elif kind == "context":
            parts = [slack_mrkdwn(e["text"]) if e["type"] == "mrkdwn" else plain(e["text"]) for e in block["elements"]]
            blocks.append(f'<div class="context">{"&nbsp;&nbsp;".join(parts)}</div>')
        elif kind == "section" and "text" in block:
            blocks.append(f'<div class="section">{slack_mrkdwn(block["text"]["text"])}</div>')
        elif kind == "section":
            cells = "".join(f"<div>{slack_mrkdwn(f['text'])}</div>" for f in block["fields"])
            blocks.append(f'<div class="fields">{cells}</div>')
        elif kind == "actions":
            buttons = "".join(f'<a class="button" href="{esc(safe_href(e["url"]) or "#")}">'
                              f'{plain(e["text"]["text"])}</a>' for e in block["elements"])
            blocks.append(f'<div class="actions">{buttons}</div>')
        else:
            raise SystemExit(f"the Slack preview has no layout for a {kind!r} block")
    clock = local_clock(message)
    return page(SLACK_CSS, f'<div class="row"><div class="avatar">B</div><div>'
                           f'<span class="who">{esc(APP_NAME)}</span><span class="app">APP</span>'
                           f'<span class="time">{clock:%-I:%M %p}</span>{"".join(blocks)}</div></div>')


DISCORD_CSS = """
#shot{background:#313338;padding:14px 16px 16px;color:#dbdee1;
  font:16px/1.375 'gg sans','Noto Sans','Helvetica Neue',Helvetica,Arial,sans-serif}
.row{display:flex;gap:16px}.avatar{flex:0 0 40px;height:40px;border-radius:50%;background:#5865f2;color:#fff;
  font-weight:700;display:flex;align-items:center;justify-content:center}
.who{color:#f2f3f5;font-weight:500}.app{background:#5865f2;color:#fff;font-size:10px;font-weight:600;
  padding:1px 4px;border-radius:3px;margin:0 6px;vertical-align:2px}.time{font-size:12px;color:#949ba4}
.embed{margin-top:4px;max-width:516px;background:#2b2d31;border-left:4px solid;border-radius:4px;
  padding:8px 16px 16px 12px;font-size:14px;line-height:18px}
.author{color:#f2f3f5;font-weight:600;margin-top:8px}.title{font-size:16px;font-weight:600;margin-top:8px;
  line-height:22px}.title a{color:#00a8fc;text-decoration:none}.description{margin-top:8px}
.fields{display:grid;grid-template-columns:repeat(3,1fr);gap:8px;margin-top:8px}
.field .name{color:#f2f3f5;font-weight:600;margin-bottom:2px}.field.wide{grid-column:1/-1}
.footer{font-size:12px;font-weight:500;margin-top:8px;line-height:16px}a{color:#00a8fc;text-decoration:none}
code{font:12px Consolas,monospace;background:#1e1f22;border-radius:3px;padding:0 3px}
"""


def discord_page(document: dict[str, Any], message: ChatMessage) -> str:
    [embed] = document["embeds"]
    title = markdown_html(embed["title"])
    if href := safe_href(embed.get("url") or ""):
        title = f'<a href="{esc(href)}">{title}</a>'
    fields = "".join(f'<div class="field{"" if f.get("inline") else " wide"}"><div class="name">'
                     f'{markdown_html(f["name"])}</div><div>{markdown_html(f["value"])}</div></div>'
                     for f in embed.get("fields", []))
    clock = local_clock(message)
    stamp = f"{clock.month}/{clock.day}/{clock:%y}, {clock:%-I:%M %p}"  # Discord: the reader's zone and locale
    parts = [f'<div class="author">{plain(embed["author"]["name"])}</div>', f'<div class="title">{title}</div>']
    if "description" in embed:
        parts.append(f'<div class="description">{markdown_html(embed["description"])}</div>')
    parts.append(f'<div class="fields">{fields}</div>')
    footer = plain(embed["footer"]["text"])
    if "timestamp" in embed:  # Discord shows an embed's timestamp after its footer, in the reader's zone
        footer += f" • {esc(stamp)}"
    parts.append(f'<div class="footer">{footer}</div>')
    if document.get("content"):
        parts.insert(0, f"<div>{markdown_html(document['content'])}</div>")
    colour = f"#{int(embed.get('color', 0x1E1F22)):06x}"
    return page(DISCORD_CSS, f'<div class="row"><div class="avatar">B</div><div style="flex:1">'
                             f'<span class="who">{esc(APP_NAME)}</span><span class="app">APP</span>'
                             f'<span class="time">{esc(stamp)}</span>'
                             f'<div class="embed" style="border-left-color:{colour}">{"".join(parts)}</div>'
                             f"</div></div>")


GOOGLE_CSS = """
#shot{background:#fff;padding:14px 20px 16px;color:#1f1f1f;font:14px/20px 'Google Sans',Roboto,Arial,sans-serif}
.row{display:flex;gap:12px}.avatar{flex:0 0 32px;height:32px;border-radius:50%;background:#0b8043;color:#fff;
  font-weight:500;display:flex;align-items:center;justify-content:center}
.who{font-weight:500}.app{font-size:11px;color:#444746;border:1px solid #c4c7c5;border-radius:4px;
  padding:0 4px;margin:0 6px}.time{font-size:12px;color:#444746}.text{margin:2px 0 8px}
.card{width:520px;border:1px solid #dadce0;border-radius:8px;overflow:hidden;background:#fff}
.cardheader{padding:16px 16px 8px}.cardtitle{font-size:16px;line-height:24px;font-weight:500}
.subtitle{color:#444746}.section{padding:8px 16px}.section+.section{border-top:1px solid #e3e3e3}
.sectionhead{font-weight:500;color:#444746;margin:4px 0}.widget{margin:8px 0}
.label{font-size:12px;line-height:16px;color:#444746}.button{display:inline-block;background:#0b57d0;color:#fff;
  border-radius:18px;padding:8px 20px;font-weight:500;text-decoration:none}a{color:#0b57d0}
"""


def google_chat_page(document: dict[str, Any], message: ChatMessage) -> str:
    [card] = [c["card"] for c in document["cardsV2"]]
    sections = []
    for section in card["sections"]:
        widgets = [f'<div class="sectionhead">{plain(section["header"])}</div>'] if section.get("header") else []
        for widget in section["widgets"]:
            if "decoratedText" in widget:
                decorated = widget["decoratedText"]
                labels = [f'<div class="label">{chat_html(decorated["topLabel"])}</div>'] if "topLabel" in decorated \
                    else []
                labels.append(f"<div>{chat_html(decorated['text'])}</div>")
                if "bottomLabel" in decorated:
                    labels.append(f'<div class="label">{chat_html(decorated["bottomLabel"])}</div>')
                widgets.append(f'<div class="widget">{"".join(labels)}</div>')
            elif "textParagraph" in widget:
                widgets.append(f'<div class="widget">{chat_html(widget["textParagraph"]["text"])}</div>')
            elif "buttonList" in widget:
                widgets.append('<div class="widget">' + "".join(
                    f'<a class="button" href="{esc(safe_href(b["onClick"]["openLink"]["url"]) or "#")}">'
                    f'{plain(b["text"])}</a>' for b in widget["buttonList"]["buttons"]) + "</div>")
            else:
                raise SystemExit(f"the Google Chat preview has no layout for {sorted(widget)}")
        sections.append(f'<div class="section">{"".join(widgets)}</div>')
    header = card["header"]
    clock = local_clock(message)
    return page(GOOGLE_CSS, f'<div class="row"><div class="avatar">B</div><div>'
                            f'<span class="who">{esc(APP_NAME)}</span><span class="app">App</span>'
                            f'<span class="time">{clock:%-I:%M %p}</span>'
                            f'<div class="text">{plain(document["text"])}</div>'
                            f'<div class="card"><div class="cardheader"><div class="cardtitle">'
                            f'{plain(header["title"])}</div><div class="subtitle">{plain(header["subtitle"])}</div>'
                            f'</div>{"".join(sections)}</div></div></div>')


TEAMS_CSS = """
#shot{background:#f5f5f5;padding:16px 20px;font:14px/20px 'Segoe UI',system-ui,'Liberation Sans',Arial,sans-serif;
  color:#242424}
.post{background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.12);padding:12px 16px 16px}
.row{display:flex;gap:10px;align-items:center;margin-bottom:10px}.avatar{flex:0 0 32px;height:32px;
  border-radius:6px;background:#0f6cbd;color:#fff;font-weight:600;display:flex;align-items:center;
  justify-content:center}.who{font-weight:600}.via{color:#616161}.time{font-size:12px;color:#616161;margin-left:8px}
#card{border:1px solid #e0e0e0;border-radius:4px;overflow:hidden}
#card .ac-pushButton{border:1px solid #d1d1d1;border-radius:4px;background:#fff;color:#242424;font-weight:600;
  padding:5px 12px;font-family:'Segoe UI',system-ui,'Liberation Sans',Arial,sans-serif;font-size:14px}
#card p{margin:0}#card a{color:#5b5fc7}
"""


def teams_frame(message: ChatMessage, card_html: str) -> str:
    clock = local_clock(message)
    return page(TEAMS_CSS, f'<div class="post"><div class="row"><div class="avatar">W</div><div>'
                           f'<span class="who">Workflows</span><span class="time">{clock:%-m/%-d/%y %-I:%M %p}'
                           f'</span></div></div><div id="card">{card_html}</div></div>')


# Teams light host config colours, for the approximation drawn without npm.
TEAMS_BACKGROUNDS = {"default": "#ffffff", "emphasis": "#f9f8f7", "good": "#ccffcc", "attention": "#ffc5b2",
                     "warning": "#ffe2b2", "accent": "#c7def9"}
TEAMS_COLOURS = {"default": "#252424", "good": "#92c353", "attention": "#c4314b", "warning": "#f8d22a",
                 "accent": "#6264a7", "dark": "#252424", "light": "#ffffff"}
TEAMS_SIZES = {"small": 12, "default": 14, "medium": 14, "large": 18, "extralarge": 24}


def teams_approximation(card: dict[str, Any]) -> str:
    def element(item: dict[str, Any]) -> str:
        if item["type"] == "TextBlock":
            colour = TEAMS_COLOURS.get(str(item.get("color", "default")).lower(), "#252424")
            style = (f"font-size:{TEAMS_SIZES.get(str(item.get('size', 'default')).lower(), 14)}px;color:{colour};"
                     f"font-weight:{600 if str(item.get('weight', '')).lower() == 'bolder' else 400};"
                     f"opacity:{0.75 if item.get('isSubtle') else 1};margin-top:{4 if item.get('spacing') else 8}px")
            return f'<div style="{style}">{markdown_html(item["text"], soft_breaks=True)}</div>'
        if item["type"] == "Container":
            background = TEAMS_BACKGROUNDS.get(str(item.get("style", "default")).lower(), "#ffffff")
            return (f'<div style="background:{background};padding:8px 16px 12px;margin:-16px -16px 0">'
                    f'{"".join(element(i) for i in item["items"])}</div>')
        if item["type"] == "FactSet":
            rows = "".join(f'<tr><td style="font-weight:600;padding:0 16px 2px 0">{markdown_html(f["title"])}</td>'
                           f"<td>{markdown_html(f['value'])}</td></tr>" for f in item["facts"])
            return f'<table style="border-collapse:collapse;margin-top:8px">{rows}</table>'
        raise SystemExit(f"the Teams approximation has no layout for {item['type']!r}")

    actions = "".join(f'<button class="ac-pushButton">{esc(a["title"])}</button>' for a in card.get("actions", []))
    return (f'<div style="padding:16px">{"".join(element(i) for i in card["body"])}'
            f'<div style="margin-top:16px">{actions}</div></div>')


# --- Teams: Microsoft's renderer from a temporary npm install ------------------------------------------


def teams_renderer(use_npm: bool) -> dict[str, Any] | None:
    """The renderer's scripts and Teams' host config, installed once into CACHE; None without npm."""
    npm = shutil.which("npm")
    if not use_npm or npm is None:
        return None
    modules = CACHE / "node_modules"
    scripts = [modules / "markdown-it/dist/markdown-it.min.js", modules / "adaptivecards/dist/adaptivecards.min.js"]
    host_config = CACHE / "microsoft-teams-light.json"
    try:
        CACHE.mkdir(parents=True, exist_ok=True)  # npm runs there: nothing of it lands in the repository
        if not all(path.is_file() for path in scripts):
            subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
                [npm, "install", "--prefix", str(CACHE), "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
                 "--silent", *NPM_PACKAGES], cwd=CACHE, check=True, timeout=300)
        if not host_config.is_file():
            packed = subprocess.run(  # noqa: S603 - npm from PATH, fixed arguments
                [npm, "pack", DESIGNER, "--silent", "--pack-destination", str(CACHE)], cwd=CACHE, check=True,
                capture_output=True, text=True, timeout=300).stdout.strip().splitlines()[-1]
            with tarfile.open(CACHE / packed) as archive:  # one member read by name: nothing is extracted
                member = archive.extractfile(TEAMS_HOST_CONFIG)
                assert member is not None
                host_config.write_bytes(member.read())
            (CACHE / packed).unlink()
    except (subprocess.SubprocessError, OSError, KeyError, AssertionError) as failed:
        print(f"chat_previews: no Adaptive Cards renderer ({failed}); Teams is approximated", file=sys.stderr)
        return None
    return {"scripts": scripts, "host_config": json.loads(host_config.read_text())}


RENDER_CARD = """([card, hostConfig]) => {
  const adaptive = new AdaptiveCards.AdaptiveCard();
  adaptive.hostConfig = new AdaptiveCards.HostConfig(hostConfig);
  const context = new AdaptiveCards.SerializationContext();
  adaptive.parse(card, context);
  document.getElementById("card").appendChild(adaptive.render());
  const problems = [];
  for (let i = 0; i < context.eventCount; i++) problems.push(context.getEventAt(i).message);
  return problems;
}"""


# --- screenshots ----------------------------------------------------------------------------------------


def shoot(browser: Any, markup: str, path: Path, scripts: list[Path] | None = None,
          render: Callable[[Any], None] | None = None) -> None:
    context = browser.new_context(viewport={"width": WIDTH, "height": 400}, device_scale_factor=1.5,
                                  java_script_enabled=render is not None)
    try:
        tab = context.new_page()
        tab.set_content(markup)
        for script in scripts or []:
            tab.add_script_tag(path=str(script))
        if render is not None:
            render(tab)
        tab.locator("#shot").screenshot(path=str(path))
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", choices=("identified", "resolved", "component", "hostile"), default="identified")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--json", action="store_true", help="print each app's body (components trimmed to two)")
    parser.add_argument("--no-npm", action="store_true", help="approximate Teams' card instead of rendering it")
    args = parser.parse_args()

    event = build_event(args.update)
    message = chat_message(event)
    documents = {name: formats.body(name, event) for name in FILES}
    if args.json:
        for name, document in documents.items():
            print(f"== {name}\n{compact(trimmed(document))}")
        return

    if not CHROMIUM.exists():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    from playwright.sync_api import sync_playwright  # the dev extra

    renderer = teams_renderer(not args.no_npm)
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            shoot(browser, slack_page(documents["slack"], message), args.out / FILES["slack"])
            shoot(browser, discord_page(documents["discord"], message), args.out / FILES["discord"])
            shoot(browser, google_chat_page(documents["google_chat"], message), args.out / FILES["google_chat"])
            card = documents["teams"]["attachments"][0]["content"]
            if renderer is None:
                shoot(browser, teams_frame(message, teams_approximation(card)), args.out / FILES["teams"])
            else:
                def render(tab: Any) -> None:
                    for problem in tab.evaluate(RENDER_CARD, [card, renderer["host_config"]]):
                        print(f"chat_previews: the Adaptive Card renderer says: {problem}", file=sys.stderr)

                shoot(browser, teams_frame(message, ""), args.out / FILES["teams"], renderer["scripts"], render)
        finally:
            browser.close()
    for name in FILES.values():
        path = args.out / name
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
