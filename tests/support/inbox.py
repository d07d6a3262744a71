"""Reading the local stack's mail: the outbox of .eml files, parsed with
Python's `email` package, and the subscribe-then-confirm steps a person takes."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, STAFF_TOKEN, Api, Reply, http

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def by_recipient(self) -> dict[str, list[EmailMessage]]:
        """Every message, parsed once, by its To address (for many addresses at a time)."""
        found: dict[str, list[EmailMessage]] = {}
        for path in sorted(self.directory.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if message["To"]:
                found.setdefault(message["To"].addresses[0].addr_spec, []).append(message)
        return found

    def to(self, address: str) -> list[EmailMessage]:
        found = []
        for path in sorted(self.directory.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if message["To"] and message["To"].addresses[0].addr_spec == address:
                found.append(message)
        return found

    def raw_to(self, address: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.directory.glob("*.eml"))
                if f"To: {address}\r\n".encode() in p.read_bytes()]


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def link(message: EmailMessage, kind: str) -> str:
    found = re.search(rf"https?://\S+/v1/subscriptions/{kind}\?token=\S+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def subscribe(api: Api, who: str, components: list[str] | None = None) -> Reply:
    return api("POST", "/v1/subscriptions", {"email": who, **({"components": components} if components else {})},
               auth=False)


def confirmed(stack: Any, api: Api, outbox: Outbox, who: str, components: list[str] | None = None) -> str:
    """Subscribe and confirm `who`; returns the subscriber id."""
    assert subscribe(api, who, components).status == 202
    wait_for(lambda: len(outbox.to(who)) >= 1)
    confirm_url = link(outbox.to(who)[-1], "confirm")
    assert http(confirm_url, "POST", raw=b"", headers=FORM).status == 200
    return subscriber(api, who)["id"]


def subscriber(api: Api, who: str) -> dict[str, Any]:
    cursor = None
    while True:
        page = api("GET", "/v1/subscribers?limit=100" + (f"&cursor={cursor}" if cursor else "")).json
        for found in page["subscribers"]:
            if found["email"] == who:
                return dict(found)
        cursor = page["next_cursor"]
        if not cursor:
            raise AssertionError(f"no subscriber {who}")


@contextmanager
def stack_with_outbox(outbox: Path, env: dict[str, str]) -> Iterator[Any]:
    """A local stack whose sent mail lands as .eml files in `outbox`."""
    from status_fanout.api.auth import hash_token
    from status_fanout_local.stack import LocalStack

    with LocalStack(ROOT, parameters={"StaffTokenSha256": hash_token(STAFF_TOKEN)},
                    env={**env, "OUTBOX_DIR": str(outbox)}) as running:
        yield running
