"""The chat formats a webhook endpoint may have: where each app's incoming
webhooks live, and the body each is sent (docs/contract.md §10).

An endpoint of a chat format may only point at that app's own webhook host
(the SSRF guard runs as well); the local stack, which allows loopback
receivers, also accepts a loopback address for every format. The URL is the
endpoint's only credential, so the API shows it masked.
"""

from __future__ import annotations

import importlib
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from status_fanout.delivery.events import EventSnapshot
from status_fanout.errors import InvalidFieldError


@dataclass(frozen=True)
class ChatFormat:
    name: str
    app: str
    hosts: tuple[str, ...]              # exact host names
    host_suffixes: tuple[str, ...] = ()  # or any subdomain of one of these
    path_prefixes: tuple[str, ...] = ("/",)

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.hosts or any(host.endswith(suffix) for suffix in self.host_suffixes)


CHAT_FORMATS: dict[str, ChatFormat] = {f.name: f for f in (
    ChatFormat("slack", "Slack", ("hooks.slack.com",), path_prefixes=("/services/",)),
    ChatFormat("teams", "Microsoft Teams", (), (".logic.azure.com", ".api.powerplatform.com", ".webhook.office.com")),
    ChatFormat("discord", "Discord", ("discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com"),
               path_prefixes=("/api/webhooks/", "/api/v10/webhooks/", "/api/v9/webhooks/")),
    ChatFormat("google_chat", "Google Chat", ("chat.googleapis.com",), path_prefixes=("/v1/spaces/",)),
)}


def is_chat(body_format: str) -> bool:
    return body_format in CHAT_FORMATS


def check_destination(body_format: str, url: str, dialled_address: str, allow_loopback: bool) -> None:
    """Refuse a chat endpoint's URL that is not its app's (422 on `url`).
    `dialled_address` is what the SSRF guard resolved the host to."""
    chat = CHAT_FORMATS[body_format]
    if allow_loopback and ipaddress.ip_address(dialled_address.split("%", 1)[0]).is_loopback:
        return  # the local stack's loopback receivers stand in for every app
    parts = urlsplit(url.strip())
    where = " or ".join([*chat.hosts, *("*" + s for s in chat.host_suffixes)])
    if not chat.host_allowed(parts.hostname or "") or parts.port not in (None, 443):
        raise InvalidFieldError("url", f"a {chat.app} webhook URL must be https on {where}")
    if not any((parts.path or "/").startswith(prefix) for prefix in chat.path_prefixes):
        raise InvalidFieldError("url", f"a {chat.app} webhook URL's path starts with "
                                       + " or ".join(chat.path_prefixes))


def mask(url: str) -> str:
    """The URL as the API shows it: scheme and host, then only the last four
    characters of the rest, which is the credential."""
    parts = urlsplit(url)
    rest = parts.path + ("?" + parts.query if parts.query else "")
    tail = rest[-4:] if len(rest) > 12 else ""
    return f"{parts.scheme}://{parts.netloc}/…{tail}"


def body(body_format: str, event: EventSnapshot) -> dict[str, Any]:
    """The app's message for this event. Each format's module loads when
    its first message is built, so an endpoint of one never loads the others."""
    from status_fanout.chat.message import chat_message

    layout = importlib.import_module(f"status_fanout.chat.{CHAT_FORMATS[body_format].name}")
    document: dict[str, Any] = layout.body(chat_message(event))
    return document
