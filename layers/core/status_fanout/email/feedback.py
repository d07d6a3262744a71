"""SES bounce and complaint events → subscriber state.

The configuration set's event destination publishes BOUNCE and COMPLAINT
events to an SNS topic; the feedback Lambda gets them as SNS records whose
`Message` is SES's JSON (`eventType` for configuration-set events,
`notificationType` for identity notifications: both are read).

- Permanent (hard) bounce: the address is suppressed at once.
- Any complaint: suppressed at once.
- Transient or undetermined (soft) bounce: counted on the subscriber, not
  suppressed; SES itself stops retrying and its account-level suppression
  list takes over if the address keeps failing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from email.utils import parseaddr
from typing import Any

from status_fanout.email.subscriptions import SubscriptionService
from status_fanout.observability import logger


def ses_messages(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    messages = []
    for record in records:
        raw = (record.get("Sns") or {}).get("Message") or ""
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("not an SES event", extra={"message_id": (record.get("Sns") or {}).get("MessageId")})
            continue
        if isinstance(message, dict):
            messages.append(message)
    return messages


def apply(service: SubscriptionService, message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(outcome, address) for each recipient the event names."""
    kind = str(message.get("eventType") or message.get("notificationType") or "")
    outcomes: list[tuple[str, str]] = []
    if kind == "Bounce":
        bounce = message.get("bounce") or {}
        hard = bounce.get("bounceType") == "Permanent"
        for recipient in bounce.get("bouncedRecipients") or []:
            address = parseaddr(str(recipient.get("emailAddress", "")))[1]
            if not address:
                continue
            if hard:
                found = service.suppress(address, f"bounce: {bounce.get('bounceSubType', 'Permanent')}")
                outcomes.append(("suppressed" if found else "unknown", address))
            else:
                found = service.soft_bounce(address)
                outcomes.append(("soft-bounce" if found else "unknown", address))
    elif kind == "Complaint":
        complaint = message.get("complaint") or {}
        for recipient in complaint.get("complainedRecipients") or []:
            address = parseaddr(str(recipient.get("emailAddress", "")))[1]
            if address:
                reason = f"complaint: {complaint.get('complaintFeedbackType', 'unspecified')}"
                found = service.suppress(address, reason)
                outcomes.append(("suppressed" if found else "unknown", address))
    else:
        logger.info("ignored SES event", extra={"type": kind})
    return outcomes
