"""`status-fanout local --demo` (`make demo`): the local stack with the seed's
Bottlenose page loaded, so a first look shows a real page.

The seed (events/seed/mail-platform-outage.json) goes in through the staff
API exactly as `status-fanout replay` posts it: the Email group's four
components, then "Mail platform outage" backfilled with its six verbatim
updates at their 2018 times, and its postmortem. A backfill notifies nobody
and does not move the live component statuses, so the page reads "All
Systems Operational" with the incident in its history. `load` returns once
the publisher has rendered it all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .replay import http_sender, read_plans, replay
from .stack import LocalStack

SEED = Path("events") / "seed" / "mail-platform-outage.json"
# Idempotency-Key prefix of the demo's posts (a replay with another prefix posts again).
KEY_PREFIX = "demo"


def load(stack: LocalStack, token: str, seed: Path, timeout: float = 300) -> list[dict[str, Any]]:
    """Post the seed's incidents through the running stack's API and wait until
    every consumer has caught up; returns the API's final incident objects."""
    incidents = replay(http_sender(stack.api_url, token), read_plans(seed), key_prefix=KEY_PREFIX)
    stack.wait_idle(timeout=timeout)
    return incidents
