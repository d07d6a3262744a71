"""Dev-only email support for the local stack (docs/contract.md §4).

- The SES identity: moto sends only from verified identities, so the
  template's sender address is verified in the emulator when the stack starts
  (in AWS the operator verifies it once; the Lambda code never does).
- Secrets: every `AWS::SecretsManager::Secret` of the template is created in
  the emulator with a freshly generated value, under the name its `Ref`
  resolves to locally, so `GetSecretValue(SecretId=<that Ref>)` works as in AWS.
- The outbox: every message sent through the emulated SES is copied, raw
  MIME byte for byte, into `.local/outbox/` (or `OUTBOX_DIR`) as an `.eml`
  file a person can open in a mail client. A poller reads moto's in-process
  SES backend (the list behind `/moto-api/data.json`); the handlers know
  nothing of it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from .emulator import Emulator
from .template import ACCOUNT_ID, REGION, Template, placeholder

logger = logging.getLogger("status_fanout_local.email")
SECRET_TYPE = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type


def verify_sender(emulator: Emulator, address: str) -> None:
    """Verify the sender address and its domain in the emulated SES (v1 and v2 share identities)."""
    if not address or "@" not in address:
        return
    ses = emulator.client("sesv2")
    for identity in (address, address.rpartition("@")[2]):
        with contextlib.suppress(ses.exceptions.AlreadyExistsException):
            ses.create_email_identity(EmailIdentity=identity)


def create_secrets(emulator: Emulator, template: Template) -> list[str]:
    """Each template secret, generated here, named as its local Ref; returns the names."""
    client = emulator.client("secretsmanager")
    names = []
    for logical_id, spec in template.resources.items():
        if spec.get("Type") != SECRET_TYPE:
            continue
        name = placeholder(logical_id)
        client.create_secret(Name=name, SecretString=secrets.token_urlsafe(48))
        names.append(name)
    return names


def _sent_messages() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT_ID][REGION].sent_messages)


class Outbox(threading.Thread):
    """Copies each message moto's SES accepted into `directory` as `<n>-<id>.eml`."""

    def __init__(self, directory: Path, interval: float = 0.05) -> None:
        super().__init__(name="email-outbox", daemon=True)
        self.directory = Path(directory)
        self.interval = interval
        self._stop_event = threading.Event()
        self._seen = 0
        self._written = 0
        self._lock = threading.Lock()

    def run(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        while not self._stop_event.wait(self.interval):
            try:
                self.flush()
            except Exception:  # pragma: no cover - keep the poller alive
                logger.exception("outbox poll failed")
        self.flush()

    def flush(self) -> int:
        """Write what arrived since the last flush; returns how many."""
        with self._lock:
            messages = _sent_messages()
            if len(messages) < self._seen:  # the emulator was reset
                self._seen = 0
            new = messages[self._seen:]
            for message in new:
                self._written += 1
                safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", str(message.id))[:80]
                path = self.directory / f"{time.strftime('%Y%m%dT%H%M%S')}-{self._written:06d}-{safe_id}.eml"
                raw = message.raw_data if isinstance(message.raw_data, bytes) else message.raw_data.encode("utf-8")
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(raw)
                tmp.replace(path)  # readers never see half a file
            self._seen = len(messages)
            return len(new)

    def stop(self) -> None:
        self._stop_event.set()
